/* 知问 chat page: the upload box. Staff with an API key add report files (POST /v1/documents,
   multipart field "file"), uploaded one after another; each file gets a status line saying what
   the server answered, in Chinese (errors.js turns the error's code into words). A report id that
   exists already can be replaced (PUT /v1/documents/{id}) after a confirm. File names and server
   strings are rendered with textContent only. After a change the page's corpus note is refreshed
   (app.js listens for the "zhiwen:corpus-changed" event). */
"use strict";

(function () {
  // The file types the server reads, until /v1/index says (its "uploads": formats and limits).
  // They only set the file picker's filter and the hint: the server decides what it takes, and a
  // file it refuses gets its 415/413, which names what it accepts.
  const FORMATS = [".txt", ".md", ".markdown", ".html", ".htm", ".docx", ".pdf", ".png", ".jpg", ".jpeg"];

  const $ = (id) => document.getElementById(id);
  const toggle = $("upload-toggle");
  const panel = $("upload-panel");
  const drop = $("upload-drop");
  const choose = $("upload-choose");
  const input = $("upload-file");
  const access = $("upload-access");
  const list = $("upload-list");

  const queue = [];
  let running = false;
  let writes = null; // promise of /v1/index's writes_enabled: true, false or null (unknown)

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  const docIdOf = (name) => window.zhiwenDocIdOf(name); // ids.js

  function sizeText(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return Math.round(bytes / 1024) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  function checkWrites() {
    if (!writes) {
      writes = (async () => {
        try {
          const response = await zhiwenFetch("/v1/index");
          if (!response.ok) return null;
          const body = await response.json();
          if (body.uploads && Array.isArray(body.uploads.formats)) describe(body.uploads);
          return typeof body.writes_enabled === "boolean" ? body.writes_enabled : null;
        } catch (_) {
          return null;
        }
      })().then((enabled) => {
        if (enabled === false) {
          access.textContent =
            "本服务器未开启上传：管理员需设置访问密钥（ZHIWEN_API_KEYS）并重启服务后才能上传报告。";
          access.classList.add("warning");
          choose.disabled = true;
          input.disabled = true;
          drop.classList.add("disabled");
        }
        if (enabled === null) writes = null; // ask again next time
        return enabled;
      });
    }
    return writes;
  }

  // -- the panel -------------------------------------------------------------------------------
  function openPanel() {
    panel.hidden = false;
    toggle.setAttribute("aria-expanded", "true");
    choose.focus();
    checkWrites().then(() => {
      // uploads turned out to be disabled: the focus leaves the disabled button for the close one
      if (choose.disabled && (document.activeElement === choose || document.activeElement === document.body)) {
        $("upload-close").focus();
      }
    });
  }

  function closePanel() {
    panel.hidden = true;
    toggle.setAttribute("aria-expanded", "false");
    toggle.focus();
  }

  toggle.addEventListener("click", () => (panel.hidden ? openPanel() : closePanel()));
  $("upload-close").addEventListener("click", closePanel);
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      closePanel();
    }
  });
  choose.addEventListener("click", () => input.click());

  /* The picker's filter and the hint: the formats and, once the server said, its limits. */
  function describe(uploads) {
    const formats = uploads ? uploads.formats.map(String) : FORMATS;
    input.accept = formats.join(",");
    let text = "支持 " + formats.join(" ") + "；可一次选多个文件，逐个上传。";
    if (uploads) {
      text += "上限：文本、网页、Markdown " + sizeText(Number(uploads.max_text_bytes)) +
        "，Word、PDF、图片 " + sizeText(Number(uploads.max_file_bytes)) +
        "，PDF " + Number(uploads.max_pdf_pages) + " 页" +
        (uploads.ocr ? "；扫描件和图片经 OCR 识别。" : "；未开启 OCR，扫描件和图片无法读取。");
    }
    $("upload-formats").textContent = text;
  }
  describe(null);
  input.addEventListener("change", () => {
    add(Array.from(input.files || []));
    input.value = ""; // the same file can be chosen again (e.g. after fixing it)
  });

  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("dragging");
  });
  drop.addEventListener("dragleave", (event) => {
    if (!drop.contains(event.relatedTarget)) drop.classList.remove("dragging");
  });
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("dragging");
    if (!choose.disabled) add(Array.from((event.dataTransfer && event.dataTransfer.files) || []));
  });
  // a file dropped beside the box must not make the browser open it and leave the chat
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      const files = event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files");
      if (files && !panel.hidden && !drop.contains(event.target)) event.preventDefault();
    });
  }

  // -- one status line per file ------------------------------------------------------------------
  function row(file) {
    const li = el("li", "upload-item");
    const head = el("p", "upload-name");
    head.appendChild(el("span", "file", file.name));
    head.appendChild(el("span", "size", sizeText(file.size)));
    li.appendChild(head);
    const status = el("p", "upload-status");
    li.appendChild(status);
    const detail = el("p", "upload-detail");
    detail.hidden = true;
    li.appendChild(detail);
    const bar = el("progress", "upload-progress");
    bar.max = 1;
    bar.hidden = true;
    li.appendChild(bar);
    const actions = el("p", "upload-actions");
    actions.hidden = true;
    li.appendChild(actions);
    list.appendChild(li);
    return { li, status, detail, actions, bar };
  }

  function show(item, state, text, detail) {
    item.view.li.dataset.state = state;
    if (state !== "uploading") item.view.bar.hidden = true;
    item.view.status.textContent = text;
    // the server's reason in Chinese (errors.js), when it says more than the status line
    const more = detail && !text.includes(detail) ? detail : "";
    item.view.detail.textContent = more ? "原因：" + more : "";
    item.view.detail.hidden = !more;
    item.view.actions.replaceChildren();
    item.view.actions.hidden = true;
  }

  function action(item, label, handler) {
    const button = el("button", "ghost small", label);
    button.type = "button";
    button.addEventListener("click", handler);
    item.view.actions.appendChild(button);
    item.view.actions.hidden = false;
    return button;
  }

  function add(files) {
    for (const file of files) {
      const item = { file, docId: docIdOf(file.name), replace: false, view: row(file) };
      show(item, "queued", "等待上传…");
      queue.push(item);
    }
    pump();
  }

  async function pump() {
    if (running) return;
    running = true;
    try {
      while (queue.length) {
        const item = queue.shift();
        const outcome = await upload(item);
        if (outcome === "no-key") {
          // asking for the key again for every file would only repeat the refusal
          for (const rest of queue.splice(0)) {
            show(rest, "error", "未上传：需要有效的访问密钥");
            retryable(rest, "重试");
          }
        }
      }
    } finally {
      running = false;
    }
  }

  function retryable(item, label) {
    action(item, label, () => {
      show(item, "queued", "等待上传…");
      queue.push(item);
      pump();
    });
  }

  /* Uploads (or, with item.replace, replaces) one file; says how it went on its line. */
  async function upload(item) {
    show(item, "uploading", item.replace ? "替换中…" : "上传中…");
    const enabled = await checkWrites();
    if (enabled === false) {
      show(item, "error", "未上传：本服务器未开启上传");
      return "disabled";
    }
    const form = new FormData();
    form.append("file", item.file, item.file.name);
    let url = "/v1/documents";
    let method = "POST";
    if (item.replace) {
      url += "/" + encodeURIComponent(item.docId);
      method = "PUT";
    } else if (item.docId) {
      form.append("doc_id", item.docId);
    }
    let response;
    try {
      // a job (jobs.js): the server answers at once, and the file's progress shows on its line
      response = await window.zhiwenJobs.send(url, { method, body: form }, (text, fraction, job) => {
        item.view.status.textContent = text;
        item.view.li.dataset.stage = job.stage || "queued";
        item.view.bar.hidden = false;
        if (fraction === null) item.view.bar.removeAttribute("value"); // a stage without counts
        else item.view.bar.value = fraction;
      });
    } catch (_) {
      show(item, "error", "未能上传：连不上服务器，请检查网络");
      retryable(item, "重试");
      return "error";
    }
    const body = response.body;
    if (response.ok && body) {
      succeeded(item, body);
      document.dispatchEvent(new CustomEvent("zhiwen:corpus-changed", { detail: body }));
      return "done";
    }
    return failed(item, response.status, (body && body.error) || {});
  }

  function succeeded(item, body) {
    const id = String(body.doc_id);
    const verb = { created: "已加入", replaced: "已替换", unchanged: "内容未变" }[body.action] || "已更新";
    const changes = body.reports || {};
    // a file holding several reports is split into one report each, with ids of their own
    const reports = (changes.added || []).concat(changes.updated || []).map(String);
    let text = verb + "：" + id;
    if (reports.length > 1) text += "（拆分为 " + reports.length + " 篇报告）";
    if (body.action !== "unchanged") text += "，可直接提问";
    show(item, "done", text);
    item.view.li.dataset.docId = id;
    const view = el("a", "upload-view", "查看原文");
    view.href = "/reports/" + encodeURIComponent(reports.includes(id) || !reports.length ? id : reports[0]);
    view.target = "_blank";
    view.rel = "opener"; // the report view gets this tab's key (auth.js)
    item.view.actions.appendChild(view);
    item.view.actions.hidden = false;
  }

  function failed(item, status, error) {
    // never the API's English message: the Chinese text of its code (errors.js)
    const message = window.zhiwenErrors.text(status, error);
    const code = String(error.code || "");
    if (status === 401) {
      show(item, "error", "未上传：上传需要访问密钥", message);
      retryable(item, "输入密钥后重试");
      return "no-key";
    }
    if (status === 403) {
      // writes are enabled (checked before sending), so the key was refused
      show(item, "error", "未上传：访问密钥无效，无法上传", message);
      retryable(item, "重新输入密钥");
      return "no-key";
    }
    if (status === 409 && code === "document_exists") {
      if (!item.docId) {
        show(item, "error", "未上传：内容相同的报告已收录", message);
        return "error";
      }
      show(item, "exists", "已有同名报告「" + item.docId + "」", message);
      action(item, "替换", () => {
        const ok = window.confirm(
          "用 " + item.file.name + " 替换已收录的报告「" + item.docId + "」？替换后回答不再引用旧内容。"
        );
        if (!ok) return;
        item.replace = true;
        queue.push(item);
        pump();
      });
      return "exists";
    }
    if (status === 409 && code === "write_in_progress") {
      show(item, "error", "未上传：服务器正在处理另一项更新，请稍后重试", message);
      retryable(item, "重试");
      return "error";
    }
    const reasons = {
      409: "报告编号冲突，请改用其他文件名",
      413: "文件太大，超过服务器允许的上传大小",
      415: "不支持的文件格式",
      422: "无法读取该文件",
      503: "服务暂不可用，请稍后重试",
    };
    show(item, "error", "未能加入：" + (reasons[status] || "服务返回错误（HTTP " + status + "）"), message);
    if (status === 503 || status >= 500) retryable(item, "重试");
    return "error";
  }
})();
