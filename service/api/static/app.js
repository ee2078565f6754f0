/* 知问 chat page. Streams answers from POST /v1/chat/completions (OpenAI format, SSE) and
   renders citations from the final chunk. Every string from the server or the user is rendered
   with textContent / text nodes, never as HTML. */
"use strict";

(function () {
  const API = "/v1/chat/completions";
  const MAX_HISTORY = 12; // messages sent back for follow-up resolution
  const MODEL_LABELS = {
    "zhiwen-extractive": "抽取式（原文摘句）",
    "zhiwen-llm": "大模型生成",
  };
  const COMPOSER_LABELS = { extractive: "抽取式", llm: "大模型", curated: "精选答案" };

  const state = { history: [], busy: false, controller: null };

  const $ = (id) => document.getElementById(id);
  const form = $("composer");
  const input = $("question");
  const sendBtn = $("send");
  const list = $("messages");
  const welcome = $("welcome");
  const modelSelect = $("model");

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function reportUrl(c) {
    const start = Number(c.start);
    const end = Number(c.end);
    let url = "/reports/" + encodeURIComponent(String(c.doc_id));
    if (Number.isInteger(start) && Number.isInteger(end)) url += "?start=" + start + "&end=" + end;
    if (Number.isInteger(c.page) && c.page > 0) url += (url.includes("?") ? "&" : "?") + "page=" + c.page;
    const kb = window.zhiwenKbName;
    if (kb && kb !== "default") url += (url.includes("?") ? "&" : "?") + "kb=" + encodeURIComponent(kb);
    return url;
  }

  function nearBottom() {
    const doc = document.documentElement;
    return doc.scrollHeight - (window.scrollY + window.innerHeight) < 160;
  }

  function scrollToEnd(force) {
    if (force || nearBottom()) window.scrollTo({ top: document.documentElement.scrollHeight });
  }

  /* An inline [n]: a link to the cited span (the report view highlights it). */
  function citeRef(c) {
    const a = el("a", "cite-ref", c.n);
    a.href = reportUrl(c);
    a.target = "_blank";
    a.rel = "opener"; // the report view gets this tab's key (auth.js)
    a.title = "查看出处：" + (c.title || c.doc_id);
    a.setAttribute("aria-label", "出处 " + c.n + "：" + (c.title || c.doc_id));
    return a;
  }

  /* Answer text with its [n] markers turned into links to the cited span. */
  function renderAnswer(target, text, citations) {
    const byN = new Map();
    for (const c of citations || []) byN.set(Number(c.n), c);
    target.replaceChildren();
    const re = /\[(\d+)\]/g;
    let last = 0;
    let m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) target.appendChild(document.createTextNode(text.slice(last, m.index)));
      const c = byN.get(Number(m[1]));
      target.appendChild(c ? citeRef(c) : document.createTextNode(m[0]));
      last = re.lastIndex;
    }
    if (last < text.length) target.appendChild(document.createTextNode(text.slice(last)));
  }

  /* A citation's quote on one line: layout breaks are not the report's words. */
  function flat(quote) {
    return String(quote || "").replace(/\s*\n\s*/g, "").trim();
  }

  function quoteTitle(c) {
    let title = c.quote || "";
    if (Number.isInteger(c.page) && c.page > 0) title += "\n（第" + c.page + "页）";
    if (typeof c.ocr_confidence !== "number") return title;
    // read from a scan or an image: say so, and how sure the recogniser was
    const sure = Math.round(c.ocr_confidence * 100);
    return title + "\n（扫描件文字识别，置信度 " + sure + "%，请以原文件为准）";
  }

  /* The citations of each report, in the order the answer first cites it. */
  function byReport(citations) {
    const reports = new Map();
    for (const c of citations || []) {
      const key = String(c.doc_id);
      if (!reports.has(key)) reports.set(key, []);
      reports.get(key).push(c);
    }
    return [...reports.values()];
  }

  /* One chip for one report's citations: a number per citation, each opening its own span, then
     the report's title (opening the first). 「[1][3] 九水街道…」 instead of two chips. */
  function citeChip(cites) {
    const first = cites[0];
    const box = el("span", "cite-group");
    box.dataset.doc = String(first.doc_id);
    for (const c of cites) {
      const num = el("a", "cite-num" + (c.supported === false ? " unsupported" : ""), c.n);
      num.href = reportUrl(c);
      num.target = "_blank";
      num.rel = "opener";
      num.title = quoteTitle(c);
      num.dataset.n = String(c.n);
      num.setAttribute("aria-label", "出处 " + c.n + "：" + (c.title || c.doc_id));
      box.appendChild(num);
    }
    const chip = el("a", "cite-chip" + (cites.every((c) => c.supported === false) ? " unsupported" : ""));
    chip.href = reportUrl(first);
    chip.target = "_blank";
    chip.rel = "opener";
    chip.title = quoteTitle(first);
    chip.dataset.n = cites.map((c) => String(c.n)).join(" ");
    chip.appendChild(el("span", "title", first.title || first.doc_id));
    // page and OCR of the citation the title opens; each number's tooltip has its own
    if (Number.isInteger(first.page) && first.page > 0) chip.appendChild(el("span", "where", "第" + first.page + "页"));
    if (typeof first.ocr_confidence === "number") {
      chip.appendChild(el("span", "ocr", "OCR " + Math.round(first.ocr_confidence * 100) + "%"));
    }
    box.appendChild(chip);
    return box;
  }

  /* How a list or comparison answer's text falls into its groups: each line citing only one
     group's numbers is that group's line (「1. 九水街道：…[1]」); the other lines lead in (before
     the first group's line) or close (a comparison's verdict citing both sides). */
  function splitGroups(text, groups) {
    const owner = new Map();
    groups.forEach((g, i) => {
      for (const c of g.citations || []) owner.set(Number(c.n), i);
    });
    const intro = [];
    const outro = [];
    const lineOf = new Map(); // group index → its first line
    for (const line of text.split("\n")) {
      const owners = new Set([...line.matchAll(/\[(\d+)\]/g)].map((m) => owner.get(Number(m[1]))));
      const only = owners.size === 1 ? [...owners][0] : undefined;
      if (only !== undefined) {
        if (!lineOf.has(only)) lineOf.set(only, line);
      } else if (lineOf.size === 0) intro.push(line);
      else outro.push(line);
    }
    return { intro: intro.join("\n").trim(), outro: outro.join("\n").trim(), lineOf };
  }

  /* A group's heading: the place its line names it by (the composer's label), else its first
     place, else the report's title. */
  function groupName(g, line) {
    const places = (g.places || []).map(String);
    const label = String(line || "").replace(/^\s*\d+[.、]\s*/, "").split("：")[0].trim();
    return places.find((p) => p === label) || places.find((p) => String(line || "").includes(p)) ||
      places[0] || g.title || g.doc_id;
  }

  /* A list or comparison answer: its lead-in, then one block per report (its place, its chip,
     its quotes), then any closing lines. */
  function renderGroups(answer, text, final) {
    const { intro, outro, lineOf } = splitGroups(text, final.groups);
    renderAnswer(answer, intro, final.citations);
    answer.hidden = !intro;
    const box = el(final.answer_kind === "list" ? "ol" : "ul", "answer-groups " + final.answer_kind);
    final.groups.forEach((g, i) => {
      const li = el("li", "answer-group");
      li.dataset.doc = String(g.doc_id);
      const head = el("div", "group-head");
      head.appendChild(el("span", "group-name", groupName(g, lineOf.get(i))));
      const cites = g.citations || [];
      if (cites.length) head.appendChild(citeChip(cites));
      li.appendChild(head);
      const quotes = el("ul", "group-quotes");
      for (const c of cites) {
        const q = el("li", null, "「" + flat(c.quote) + "」");
        q.appendChild(citeRef(c));
        quotes.appendChild(q);
      }
      li.appendChild(quotes);
      box.appendChild(li);
    });
    answer.after(box);
    if (outro) {
      const note = el("p", "answer-note");
      renderAnswer(note, outro, final.citations);
      box.after(note);
    }
  }

  function isGrouped(final) {
    return (final.answer_kind === "list" || final.answer_kind === "comparison") &&
      Array.isArray(final.groups) && final.groups.length > 0;
  }

  function renderSources(bubble, final) {
    const citations = final.citations || [];
    if (citations.length && !isGrouped(final)) {
      const box = el("div", "sources");
      box.appendChild(el("p", "sources-label", "来源"));
      const chips = el("div", "chips");
      for (const cites of byReport(citations)) chips.appendChild(citeChip(cites));
      const quotes = el("ol", "quotes");
      for (const c of citations) {
        if (!c.quote) continue;
        const li = el("li");
        li.appendChild(el("span", "qn", "[" + c.n + "]"));
        li.appendChild(document.createTextNode("「" + c.quote + "」"));
        quotes.appendChild(li);
      }
      box.appendChild(chips);
      box.appendChild(quotes);
      bubble.appendChild(box);
    }
    const passages = final.passages || [];
    if (passages.length) {
      const details = el("details", "passages");
      details.appendChild(el("summary", null, "检索到的段落（" + passages.length + "）"));
      const ol = el("ol");
      for (const p of passages) {
        const li = el("li");
        const title = el("a", "p-title", p.title || p.doc_id);
        title.href = reportUrl(p);
        title.target = "_blank";
        title.rel = "opener";
        li.appendChild(title);
        li.appendChild(el("span", "p-text", p.text));
        ol.appendChild(li);
      }
      details.appendChild(ol);
      bubble.appendChild(details);
    }
    const bits = [];
    if (final.composer_used) bits.push(COMPOSER_LABELS[final.composer_used] || final.composer_used);
    if (final.curated) {
      bits.push("对应问题：" + final.curated.question);
      if (final.curated.source) bits.push("来源报告：" + final.curated.source);
    }
    if (typeof final.took_ms === "number") {
      const ms = final.took_ms;
      bits.push("用时 " + (ms < 1000 ? Math.max(1, Math.round(ms)) + " 毫秒" : (ms / 1000).toFixed(1) + " 秒"));
    }
    if (final.retrieval_query && final.retrieval_query !== final.question) {
      bits.push("结合上文理解为：" + final.retrieval_query);
    }
    if (bits.length) bubble.appendChild(el("p", "meta", bits.join(" · ")));
  }

  /* 👍 / 👎 under an answer. 👎 opens a small form for the right answer (optional). Both post to
     /v1/feedback with the answer's id (plus the question and answer, in case the server no longer
     remembers the id); the bar then says the feedback was sent. */
  const MAX_FEEDBACK_CHARS = 4000;

  function addFeedback(bubble, answerId, question, answerText) {
    if (!answerId) return;
    // the knowledge base that gave the answer: the selector may have moved on by the time it is rated
    const answeredKb = window.zhiwenKbName || "default";
    const bar = el("div", "feedback");
    const up = el("button", "fb-button fb-up", "👍 有帮助");
    up.type = "button";
    up.title = "回答有帮助";
    up.setAttribute("aria-label", "回答有帮助");
    const down = el("button", "fb-button fb-down", "👎 有误");
    down.type = "button";
    down.title = "回答有误";
    down.setAttribute("aria-label", "回答有误，提交更正");
    down.setAttribute("aria-expanded", "false");
    const status = el("span", "fb-status");
    status.setAttribute("role", "status");
    bar.append(up, down, status);

    const formBox = el("form", "fb-form");
    formBox.hidden = true;
    const fieldId = "fb-" + answerId;
    const label = el("label", null, "正确答案（可选）");
    label.htmlFor = fieldId;
    const field = el("textarea", "fb-answer");
    field.id = fieldId;
    field.rows = 2;
    field.maxLength = MAX_FEEDBACK_CHARS;
    field.placeholder = "例如：172处";
    const actions = el("div", "fb-actions");
    const submit = el("button", "send fb-submit", "提交反馈");
    submit.type = "submit";
    const cancel = el("button", "ghost fb-cancel", "取消");
    cancel.type = "button";
    actions.append(submit, cancel);
    formBox.append(label, field, actions);

    async function send(rating, correction) {
      const body = {
        answer_id: answerId,
        rating,
        question,
        answer: answerText.slice(0, MAX_FEEDBACK_CHARS),
      };
      if (correction) body.correction = { answer: correction };
      for (const b of [up, down, submit]) b.disabled = true;
      status.textContent = "正在提交…";
      try {
        const response = await zhiwenFetch("/v1/feedback?kb=" + encodeURIComponent(answeredKb), {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
        if (!response.ok) throw await failure(response);
        (rating === "up" ? up : down).classList.add("chosen");
        (rating === "up" ? up : down).setAttribute("aria-pressed", "true");
        formBox.hidden = true;
        down.setAttribute("aria-expanded", "false");
        status.textContent = correction ? "已提交更正，谢谢！" : "已反馈，谢谢！";
        bar.dataset.sent = rating;
      } catch (err) {
        for (const b of [up, down, submit]) b.disabled = false;
        status.textContent = "反馈未送达：" + window.zhiwenErrors.thrown(err);
        bar.dataset.sent = "error";
      }
    }

    up.addEventListener("click", () => send("up", null));
    down.addEventListener("click", () => {
      formBox.hidden = !formBox.hidden;
      down.setAttribute("aria-expanded", String(!formBox.hidden));
      if (!formBox.hidden) field.focus();
    });
    cancel.addEventListener("click", () => {
      formBox.hidden = true;
      down.setAttribute("aria-expanded", "false");
      down.focus();
    });
    formBox.addEventListener("submit", (event) => {
      event.preventDefault();
      send("down", field.value.trim() || null);
    });
    bubble.append(bar, formBox);
  }

  function addUser(text) {
    const li = el("li", "msg msg-user");
    li.appendChild(el("div", "bubble", text));
    list.appendChild(li);
  }

  function addAssistant() {
    const li = el("li", "msg msg-assistant");
    li.appendChild(el("span", "avatar", "知"));
    const bubble = el("div", "bubble");
    bubble.appendChild(el("p", "thinking", "正在检索报告…"));
    li.appendChild(bubble);
    list.appendChild(li);
    return { li, bubble };
  }

  function showError(bubble, message) {
    bubble.replaceChildren(el("div", "error-box", message));
  }

  /* Yields the data payload of each server-sent event of a fetch response. */
  async function* sseData(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
      let idx;
      while ((idx = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, idx);
        buf = buf.slice(idx + 2);
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).replace(/^ /, ""))
          .join("\n");
        if (data) yield data;
      }
    }
  }

  /* A failed response as a thrown error carrying its Chinese text (errors.js). */
  async function failure(response) {
    const err = new Error("HTTP " + response.status);
    err.zhiwenText = await window.zhiwenErrors.fromResponse(response);
    return err;
  }

  function setBusy(busy) {
    state.busy = busy;
    sendBtn.textContent = busy ? "停止" : "发送";
    sendBtn.classList.toggle("stop", busy);
    sendBtn.setAttribute("aria-label", busy ? "停止生成" : "发送问题");
  }

  /* The filters selected no report: one click drops the hand chips and asks again, unfiltered.
     The filtered-out turn leaves the history, so the question is not in it twice. */
  function addRetry(bubble, question, turn) {
    const retry = el("button", "ghost retry-unfiltered", "去掉筛选，重新查找");
    retry.type = "button";
    retry.addEventListener("click", () => {
      if (state.busy) return;
      retry.disabled = true;
      const at = state.history.indexOf(turn);
      if (at >= 0) state.history.splice(at, 2);
      if (window.zhiwenFilters) window.zhiwenFilters.clearHand();
      ask(question);
    });
    bubble.appendChild(retry);
  }

  /* A finished answer in its bubble: text (or one block per report), sources, copy, feedback;
     the turn joins the history that follow-ups are resolved with. */
  function showAnswer(li, bubble, answer, question, text, final) {
    if (isGrouped(final)) renderGroups(answer, text, final);
    else renderAnswer(answer, text, final.citations);
    if (final.answerable === false) answer.classList.add("not-found");
    const turn = { role: "user", content: question };
    if (final.filtered_out) addRetry(bubble, question, turn);
    renderSources(bubble, final);
    addCopy(bubble, text, final);
    addFeedback(bubble, final.answer_id, question, text);
    state.history.push(turn);
    state.history.push({ role: "assistant", content: text });
    li.dataset.done = "true";
  }

  /* An answer as plain text with its citations (what 复制 copies, and the Markdown export's body). */
  function answerAsText(text, final) {
    const lines = [String(text || "").trim()];
    const cites = (final && final.citations) || [];
    if (cites.length) {
      lines.push("", "来源：");
      for (const c of cites) lines.push("[" + c.n + "] " + (c.title || c.doc_id) + " —「" + flat(c.quote) + "」");
    }
    return lines.join("\n");
  }

  async function copyText(value) {
    try {
      await navigator.clipboard.writeText(value);
      return true;
    } catch (_) {
      // no clipboard permission (an http page on another host): the old way
      const area = el("textarea");
      area.value = value;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      let ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (_) {
        ok = false;
      }
      area.remove();
      return ok;
    }
  }

  function addCopy(bubble, text, final) {
    const button = el("button", "ghost small copy-answer", "复制回答");
    button.type = "button";
    button.title = "复制回答及其出处";
    button.addEventListener("click", async () => {
      const ok = await copyText(answerAsText(text, final));
      button.textContent = ok ? "已复制" : "复制失败，请手动选择文字";
      setTimeout(() => { button.textContent = "复制回答"; }, 2000);
    });
    bubble.appendChild(button);
  }

  /* A kept conversation, shown again (conversations.js): each turn as it was answered. */
  function restore(turns) {
    if (state.controller) state.controller.abort();
    state.history = [];
    list.replaceChildren();
    welcome.hidden = turns.length > 0;
    for (const t of turns) {
      addUser(t.question);
      const { li, bubble } = addAssistant();
      if (t.error) {
        showError(bubble, t.error);
        li.dataset.done = "error";
        continue;
      }
      const answer = el("p", "answer");
      bubble.replaceChildren(answer);
      showAnswer(li, bubble, answer, t.question, t.text, t.final || { citations: [] });
    }
    if (window.zhiwenFilters) window.zhiwenFilters.reset();
    scrollToEnd(true);
  }

  window.zhiwenChat = { restore, answerAsText };

  async function ask(question) {
    welcome.hidden = true;
    addUser(question);
    const { li, bubble } = addAssistant();
    scrollToEnd(true);
    const messages = state.history.concat([{ role: "user", content: question }]).slice(-MAX_HISTORY);
    const body = { messages, stream: true, include_sources: false };
    if (modelSelect.value) body.model = modelSelect.value;
    // only chips set by hand filter; the automatic ones just show how the last question was read
    const filters = window.zhiwenFilters ? window.zhiwenFilters.current() : null;
    if (filters) body.filters = filters;

    state.controller = new AbortController();
    setBusy(true);
    let text = "";
    let final = null;
    const answer = el("p", "answer");
    try {
      const response = await zhiwenFetch(API, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify(body),
        signal: state.controller.signal,
      });
      if (!response.ok) throw await failure(response);
      for await (const data of sseData(response)) {
        if (data === "[DONE]") break;
        const chunk = JSON.parse(data);
        if (chunk.error) {
          const err = new Error("stream error");
          err.zhiwenText = "生成回答时出错：" + window.zhiwenErrors.text(500, chunk.error);
          throw err;
        }
        const choice = (chunk.choices || [])[0];
        const delta = choice && choice.delta && choice.delta.content;
        if (delta) {
          if (!text) {
            bubble.replaceChildren(answer);
            li.classList.add("streaming");
          }
          text += delta;
          answer.textContent = text;
          scrollToEnd(false);
        }
        if (chunk.citations) final = chunk;
      }
      li.classList.remove("streaming");
      final = final || { citations: [] };
      // the last chunk's `answer` is authoritative (an LLM draft may have been revised)
      if (typeof final.answer === "string") text = final.answer;
      if (!bubble.contains(answer)) bubble.replaceChildren(answer);
      final.question = question;
      showAnswer(li, bubble, answer, question, text, final);
      if (window.zhiwenFilters) window.zhiwenFilters.showScope(final.question_places);
      if (window.zhiwenConversations) window.zhiwenConversations.record(question, text, final);
    } catch (err) {
      li.classList.remove("streaming");
      if (err && err.name === "AbortError") {
        if (!text) bubble.replaceChildren();
        bubble.appendChild(el("p", "meta", "已停止生成"));
      } else {
        showError(bubble, "出错了：" + window.zhiwenErrors.thrown(err));
      }
      li.dataset.done = "error";
    } finally {
      state.controller = null;
      setBusy(false);
      scrollToEnd(false);
    }
  }

  function autoGrow() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 180) + "px";
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (state.busy) {
      if (state.controller) state.controller.abort();
      return;
    }
    const question = input.value.trim();
    if (!question) {
      input.focus();
      return;
    }
    input.value = "";
    autoGrow();
    countChars();
    ask(question);
  });

  input.addEventListener("keydown", (event) => {
    // Enter sends, Shift+Enter inserts a newline; Enter that confirms an IME candidate does neither.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      if (!state.busy) form.requestSubmit();
    }
  });
  input.addEventListener("input", autoGrow);

  /* The question box holds what the server takes (/v1/index max_question_chars), with a count. */
  const counter = $("question-count");
  function countChars() {
    const most = Number(input.maxLength) || 1000;
    counter.textContent = input.value.length + "/" + most;
    counter.classList.toggle("full", input.value.length >= most);
  }
  input.addEventListener("input", countChars);
  async function loadLimits() {
    try {
      const response = await zhiwenFetch("/v1/index");
      if (!response.ok) return;
      const most = Number((await response.json()).max_question_chars);
      if (most > 0) input.maxLength = most;
    } catch (_) {
      /* the page's default (the server's default) stays */
    }
    countChars();
  }

  // 新对话: the conversation so far stays in the list (conversations.js); a new one starts
  $("new-chat").addEventListener("click", () => {
    if (state.controller) state.controller.abort();
    state.history = [];
    if (window.zhiwenFilters) window.zhiwenFilters.reset();
    list.replaceChildren();
    welcome.hidden = false;
    input.value = "";
    autoGrow();
    if (window.zhiwenConversations) window.zhiwenConversations.startNew();
    input.focus();
  });

  for (const button of document.querySelectorAll(".example")) {
    button.addEventListener("click", () => {
      if (!state.busy) ask(button.textContent.trim());
    });
  }

  async function loadModels() {
    try {
      const response = await zhiwenFetch("/v1/models");
      if (!response.ok) return;
      const ids = ((await response.json()).data || []).map((m) => String(m.id));
      for (const id of ids) {
        const option = el("option", null, MODEL_LABELS[id] || id);
        option.value = id;
        modelSelect.appendChild(option);
      }
      modelSelect.hidden = ids.length < 2;
    } catch (_) {
      /* the select stays hidden; the server default is used */
    }
  }

  async function loadCorpusNote() {
    try {
      const response = await zhiwenFetch("/v1/documents");
      if (!response.ok) return;
      const body = await response.json();
      const docs = Array.isArray(body) ? body : body.documents || body.data || [];
      if (docs.length) $("corpus-note").textContent = "已收录 " + docs.length + " 篇报告";
    } catch (_) {
      /* optional */
    }
  }

  /* knowledge bases: a selector when the server has more than one */
  const kbSelect = $("kb-select");

  async function loadKbs() {
    try {
      const response = await zhiwenFetch("/v1/kbs");
      if (!response.ok) return;
      const names = ((await response.json()).kbs || []).map((k) => String(k.name));
      kbSelect.replaceChildren();
      for (const name of names) {
        const option = el("option", null, name === "default" ? "默认知识库" : name);
        option.value = name;
        kbSelect.appendChild(option);
      }
      if (names.includes(window.zhiwenKbName)) kbSelect.value = window.zhiwenKbName;
      kbSelect.hidden = names.length < 2;
    } catch (_) {
      /* one knowledge base: no selector */
    }
  }

  kbSelect.addEventListener("change", () => {
    window.zhiwenKbName = kbSelect.value;
    const url = new URL(window.location.href);
    if (kbSelect.value === "default") url.searchParams.delete("kb");
    else url.searchParams.set("kb", kbSelect.value);
    window.history.replaceState(null, "", url);
    $("new-chat").click(); // another knowledge base: a new conversation
    $("corpus-note").textContent = "";
    loadCorpusNote();
    document.dispatchEvent(new CustomEvent("zhiwen:kb-changed", { detail: kbSelect.value }));
  });

  loadKbs();
  loadModels();
  loadCorpusNote();
  loadLimits();
  // upload.js: a report was added or replaced, so the count shown is stale
  document.addEventListener("zhiwen:corpus-changed", loadCorpusNote);
})();
