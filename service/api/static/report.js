/* 知问 report view: /reports/{doc_id}?start=&end=[&page=] shows a report's original text and
   highlights text[start:end] with a <mark>, scrolled into view; a report read from a Word, PDF,
   image, web page or Markdown file links to that file (at the page for a PDF). The text is built from text nodes only,
   so markup inside a report is shown as text and never runs. */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const article = $("report");
  const titleEl = $("report-title");
  const metaEl = $("report-meta");
  const textEl = $("report-text");
  const note = $("highlight-note");

  /* Display only: runs of blank lines shrink to one blank line. Offsets are applied before this. */
  function tidy(text) {
    return text.replace(/[ \t\u3000]*\n(?:[ \t\u3000]*\n)+/g, "\n\n");
  }

  function offset(params, name) {
    const raw = params.get(name);
    return raw !== null && /^\d{1,9}$/.test(raw) ? Number(raw) : null;
  }

  function docIdFromPath() {
    const prefix = "/reports/";
    const path = window.location.pathname;
    if (!path.startsWith(prefix)) return "";
    try {
      return decodeURIComponent(path.slice(prefix.length));
    } catch (_) {
      return "";
    }
  }

  function metaLine(meta) {
    if (!meta || typeof meta !== "object") return "";
    const parts = [];
    if (meta.date) parts.push(String(meta.date));
    if (meta.outlet) parts.push(String(meta.outlet));
    if (Array.isArray(meta.places) && meta.places.length) parts.push(meta.places.map(String).join("、"));
    if (Array.isArray(meta.authors) && meta.authors.length) {
      parts.push("作者：" + meta.authors.map(String).join("、"));
    }
    return parts.join(" · ");
  }

  const FORMATS = { docx: "Word 文档", pdf: "PDF", image: "图片", html: "网页", md: "Markdown" };

  /* A link to the report's original file (not for plain text: the text shown is the file), at
     the cited page of a PDF. Fetched with the stored key when reads need one, opened as a blob. */
  function originalLink(doc, page) {
    const meta = doc.metadata || {};
    const format = String(meta.format || "txt");
    const box = $("original");
    if (!FORMATS[format]) return;
    let url = "/v1/documents/" + encodeURIComponent(String(doc.doc_id)) + "/file";
    if (window.zhiwenKbName && window.zhiwenKbName !== "default") url += "?kb=" + encodeURIComponent(window.zhiwenKbName);
    const hash = page ? "#page=" + page : "";
    const link = document.createElement("a");
    link.id = "original-link";
    link.href = url + hash;
    link.target = "_blank";
    link.rel = "noopener";
    link.dataset.page = page ? String(page) : "";
    link.textContent = "查看原文件（" + FORMATS[format] + (page ? "，第 " + page + " 页" : "") + "）";
    const viewable = format === "pdf" || format === "image";
    const EXT = { docx: ".docx", html: ".html", md: ".md" };
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      // a PDF or an image opens in a new tab (a PDF at the page); other formats are downloaded
      const opened = viewable ? window.open("", "_blank") : null;
      try {
        const response = await zhiwenFetch(url);
        if (!response.ok) {
          const failed = new Error("HTTP " + response.status);
          failed.zhiwenText = await window.zhiwenErrors.fromResponse(response);
          throw failed;
        }
        const blob = await response.blob();
        // A blob: URL document has this page's origin, so only what the server sent as a PDF or
        // an image (its type told by the bytes) is shown in a tab; anything else is saved.
        const shown = opened && /^(application\/pdf|image\/png|image\/jpeg)$/.test(blob.type);
        const blobUrl = URL.createObjectURL(blob);
        if (shown) {
          opened.location.href = blobUrl + hash;
        } else {
          if (opened) opened.close();
          const save = document.createElement("a");
          save.href = blobUrl;
          save.download = String(doc.doc_id) + (EXT[format] || "");
          document.body.appendChild(save);
          save.click();
          save.remove();
        }
      } catch (err) {
        if (opened) opened.close();
        box.appendChild(document.createTextNode(" 无法打开原文件：" + window.zhiwenErrors.thrown(err)));
      }
    });
    box.replaceChildren(link);
    box.hidden = false;
  }

  // The UTF-16 index of code point ``n`` of ``text`` (past its end: a value over text.length).
  function unitIndex(text, n) {
    if (!/[\uD800-\uDFFF]/.test(text)) return n;
    let i = 0;
    for (let seen = 0; seen < n; seen++) {
      if (i >= text.length) return text.length + 1;
      const c = text.charCodeAt(i);
      i += c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? 2 : 1;
    }
    return i;
  }

  function render(doc, start, end) {
    const text = String(doc.text || "");
    const title = String(doc.title || doc.doc_id || "");
    titleEl.textContent = title;
    document.title = title + " · 知问";
    metaEl.textContent = metaLine(doc.metadata);
    textEl.replaceChildren();

    // The API's offsets count characters (code points); a JS string counts UTF-16 units, and
    // an ideograph outside the BMP (𥫗, 𠀾…) takes two of them.
    const from = start === null ? null : unitIndex(text, start);
    const to = end === null ? null : unitIndex(text, end);
    const valid = from !== null && to !== null && start < end && to <= text.length;
    if (!valid) {
      textEl.appendChild(document.createTextNode(tidy(text).trim()));
      if (start !== null || end !== null) {
        note.hidden = false;
        note.replaceChildren(document.createTextNode("引用位置超出报告范围，已显示全文。"));
      }
      return null;
    }
    const mark = document.createElement("mark");
    mark.id = "cited";
    mark.tabIndex = -1;
    mark.dataset.start = String(start);
    mark.dataset.end = String(end);
    mark.appendChild(document.createTextNode(tidy(text.slice(from, to))));
    textEl.appendChild(document.createTextNode(tidy(text.slice(0, from)).replace(/^\s+/, "")));
    textEl.appendChild(mark);
    textEl.appendChild(document.createTextNode(tidy(text.slice(to)).replace(/\s+$/, "")));
    note.hidden = false;
    return mark;
  }

  function focusMark(mark) {
    mark.scrollIntoView({ block: "center" });
    mark.focus({ preventScroll: true });
  }

  async function main() {
    const docId = docIdFromPath();
    const params = new URLSearchParams(window.location.search);
    const start = offset(params, "start");
    const end = offset(params, "end");
    try {
      const response = await zhiwenFetch("/v1/documents/" + encodeURIComponent(docId));
      if (!response.ok) {
        const err = new Error("HTTP " + response.status);
        err.zhiwenText = response.status === 404 ? "未找到该报告（" + docId + "）"
          : await window.zhiwenErrors.fromResponse(response);
        throw err;
      }
      const doc = await response.json();
      const mark = render(doc, start, end);
      const page = offset(params, "page");
      originalLink(doc, page && page > 0 ? page : null);
      if (mark) {
        $("jump").addEventListener("click", () => focusMark(mark));
        requestAnimationFrame(() => focusMark(mark));
      }
      article.dataset.ready = "true";
    } catch (err) {
      titleEl.textContent = "无法打开报告";
      const box = document.createElement("div");
      box.className = "error-box";
      box.textContent = window.zhiwenErrors.thrown(err);
      textEl.replaceChildren(box);
      article.dataset.ready = "error";
    } finally {
      article.setAttribute("aria-busy", "false");
    }
  }

  main();
})();
