/* 知问 chat page: conversations kept in this browser (localStorage), so a reload shows the
   conversation again and 新对话 keeps the old one. 对话记录 lists them: open, rename, delete, and
   export the current one as Markdown. Only questions and the answers as shown are kept (text,
   citations, groups): no key, nothing from other pages. Rendering is app.js's
   (window.zhiwenChat.restore); every string is shown with textContent. */
"use strict";

(function () {
  const STORE = "zhiwen.conversations.v1";
  const MAX_CONVERSATIONS = 50; // the oldest beyond this are dropped
  const MAX_TURNS = 100; // per conversation
  const MAX_PASSAGES = 5; // kept per answer (the passages list under it)

  const $ = (id) => document.getElementById(id);
  const toggle = $("conv-toggle");
  const panel = $("conv-panel");
  const listEl = $("conv-list");

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function load() {
    try {
      const data = JSON.parse(window.localStorage.getItem(STORE) || "null");
      if (data && Array.isArray(data.items)) return data;
    } catch (_) {
      /* unreadable or storage disabled: start empty */
    }
    return { current: null, items: [] };
  }

  let data = load();

  function save() {
    data.items.sort((a, b) => b.updated - a.updated);
    data.items = data.items.slice(0, MAX_CONVERSATIONS);
    for (;;) {
      try {
        window.localStorage.setItem(STORE, JSON.stringify(data));
        return;
      } catch (_) {
        // full: drop the oldest conversation other than the current one, then try again
        const old = data.items.map((c) => c.id).filter((id) => id !== data.current);
        if (!old.length) return;
        data.items = data.items.filter((c) => c.id !== old[old.length - 1]);
      }
    }
  }

  const current = () => data.items.find((c) => c.id === data.current) || null;

  function newId() {
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  }

  /* What of an answer is kept: enough to show it again as it was shown. */
  function kept(final) {
    const pick = ["answer_id", "answer_kind", "answerable", "citations", "groups", "composer_used",
      "took_ms", "curated", "retrieval_query", "question_places", "filtered_out", "question"];
    const out = {};
    for (const key of pick) if (final && final[key] !== undefined) out[key] = final[key];
    if (final && Array.isArray(final.passages)) out.passages = final.passages.slice(0, MAX_PASSAGES);
    return out;
  }

  /* app.js: an answer was shown; it joins the current conversation (one is started if none). */
  function record(question, text, final) {
    let conv = current();
    if (!conv) {
      conv = { id: newId(), title: question.slice(0, 40), kb: window.zhiwenKbName || "default",
        created: Date.now(), updated: Date.now(), turns: [] };
      data.items.push(conv);
      data.current = conv.id;
    }
    conv.turns.push({ question, text, final: kept(final) });
    conv.turns = conv.turns.slice(-MAX_TURNS);
    conv.updated = Date.now();
    save();
    render();
  }

  /* app.js: 新对话 — the current conversation stays in the list. */
  function startNew() {
    data.current = null;
    save();
    render();
  }

  function open(id) {
    const conv = data.items.find((c) => c.id === id);
    if (!conv) return;
    data.current = id;
    save();
    window.zhiwenChat.restore(conv.turns);
    render();
  }

  function remove(conv) {
    if (!window.confirm("删除对话「" + conv.title + "」？删除后无法恢复。")) return;
    data.items = data.items.filter((c) => c.id !== conv.id);
    const wasCurrent = data.current === conv.id;
    if (wasCurrent) data.current = null;
    save();
    if (wasCurrent) window.zhiwenChat.restore([]);
    render();
  }

  function rename(conv, item) {
    const field = el("input", "conv-rename");
    field.type = "text";
    field.value = conv.title;
    field.maxLength = 80;
    field.setAttribute("aria-label", "对话名称");
    const title = item.querySelector(".conv-open");
    title.replaceWith(field);
    field.focus();
    field.select();
    let done = false;
    const finish = (keep) => {
      if (done) return;
      done = true;
      const name = field.value.trim();
      if (keep && name) {
        conv.title = name;
        save();
      }
      render();
    };
    field.addEventListener("keydown", (event) => {
      if (event.key === "Enter") finish(true);
      if (event.key === "Escape") finish(false);
    });
    field.addEventListener("blur", () => finish(true));
  }

  function when(ms) {
    const d = new Date(ms);
    const pad = (n) => String(n).padStart(2, "0");
    return (d.getMonth() + 1) + "月" + d.getDate() + "日 " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function render() {
    listEl.replaceChildren();
    if (!data.items.length) {
      listEl.appendChild(el("li", "conv-empty", "还没有对话记录"));
    }
    for (const conv of data.items) {
      const item = el("li", "conv-item" + (conv.id === data.current ? " current" : ""));
      item.dataset.id = conv.id;
      const openBtn = el("button", "conv-open");
      openBtn.type = "button";
      openBtn.appendChild(el("span", "conv-title", conv.title));
      openBtn.appendChild(el("span", "conv-meta", when(conv.updated) + " · " + conv.turns.length + " 问"));
      openBtn.addEventListener("click", () => open(conv.id));
      if (conv.id === data.current) openBtn.setAttribute("aria-current", "true");
      const renameBtn = el("button", "ghost small conv-rename-btn", "重命名");
      renameBtn.type = "button";
      renameBtn.addEventListener("click", () => rename(conv, item));
      const deleteBtn = el("button", "ghost small conv-delete", "删除");
      deleteBtn.type = "button";
      deleteBtn.addEventListener("click", () => remove(conv));
      item.append(openBtn, renameBtn, deleteBtn);
      listEl.appendChild(item);
    }
    $("conv-export").disabled = !current();
  }

  /* The current conversation as Markdown: each question, its answer, its sources. */
  function markdown(conv) {
    const lines = ["# " + conv.title, "", "导出自知问 · " + when(Date.now()), ""];
    for (const t of conv.turns) {
      lines.push("## 问：" + t.question, "");
      lines.push(window.zhiwenChat.answerAsText(t.text, t.final), "");
    }
    return lines.join("\n");
  }

  function exportCurrent() {
    const conv = current();
    if (!conv) return;
    const blob = new Blob([markdown(conv)], { type: "text/markdown;charset=utf-8" });
    const link = el("a");
    link.href = URL.createObjectURL(blob);
    link.download = (conv.title.replace(/[\\/:*?"<>|\s]+/g, "_") || "对话") + ".md";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  function setOpen(open) {
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) render();
  }

  toggle.addEventListener("click", () => setOpen(panel.hidden));
  $("conv-close").addEventListener("click", () => { setOpen(false); toggle.focus(); });
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.target.classList.contains("conv-rename")) {
      setOpen(false);
      toggle.focus();
    }
  });
  $("conv-export").addEventListener("click", exportCurrent);

  window.zhiwenConversations = { record, startNew };

  // a reload shows the conversation it left (app.js has set window.zhiwenChat by now: deferred
  // scripts run in order)
  const conv = current();
  if (conv && conv.turns.length) window.zhiwenChat.restore(conv.turns);
  render();
})();
