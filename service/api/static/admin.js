/* 知问 admin page (/admin): the reports with their metadata, upload, delete, a chunk preview of a
   report, a hit test showing each hit's keyword, dense and fused scores and matched terms, and the
   feedback list. Every call needs a write key (auth.js asks once). Report text is rendered as
   text only: no HTML is ever written. */
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function cell(row, text, className) {
    const td = el("td", className, text);
    row.appendChild(td);
    return td;
  }

  /* The Chinese text of a failed response (errors.js: from its code, never the English message). */
  function errorText(response) {
    return window.zhiwenErrors.fromResponse(response);
  }

  const status = $("admin-status");

  async function checkAccess() {
    const response = await window.zhiwenFetch("/v1/admin");
    if (!response.ok) {
      status.textContent = "无法进入管理页：" + (await errorText(response));
      status.classList.add("error");
      return false;
    }
    const info = await response.json();
    status.textContent = "索引版本 " + info.version + " · " + info.reports + " 篇报告 · " + info.chunks + " 个段落";
    $("admin-body").hidden = false;
    return true;
  }

  /* -- reports ------------------------------------------------------------------------------ */
  async function loadReports() {
    const response = await window.zhiwenFetch("/v1/documents");
    if (!response.ok) return;
    const body = await response.json();
    const tbody = $("reports-body");
    tbody.replaceChildren();
    $("reports-count").textContent = body.total + " 篇";
    for (const doc of body.documents) {
      const meta = doc.metadata || {};
      const row = el("tr");
      row.dataset.docId = doc.doc_id;
      const title = el("a", null, doc.title || doc.doc_id);
      title.href = "/reports/" + encodeURIComponent(doc.doc_id);
      cell(row, null).appendChild(title);
      cell(row, doc.doc_id, "mono");
      cell(row, (meta.places || []).join("、"));
      cell(row, meta.date || "");
      cell(row, meta.format || "txt");
      cell(row, doc.length);
      const actions = cell(row, null, "actions");
      const preview = el("button", "ghost preview", "分块");
      preview.type = "button";
      preview.addEventListener("click", () => toggleChunks(row, doc.doc_id));
      const remove = el("button", "ghost danger delete", "删除");
      remove.type = "button";
      remove.addEventListener("click", () => removeReport(doc.doc_id, doc.title || doc.doc_id));
      actions.append(preview, remove);
      tbody.appendChild(row);
    }
  }

  async function toggleChunks(row, docId) {
    const next = row.nextElementSibling;
    if (next && next.classList.contains("chunk-row")) {
      next.remove();
      return;
    }
    const detail = el("tr", "chunk-row");
    const td = el("td");
    td.colSpan = 7;
    detail.appendChild(td);
    row.after(detail);
    const response = await window.zhiwenFetch("/v1/documents/" + encodeURIComponent(docId) + "/chunks");
    if (!response.ok) {
      td.textContent = await errorText(response);
      return;
    }
    const body = await response.json();
    const list = el("ol", "chunks");
    for (const c of body.chunks) {
      const li = el("li");
      li.appendChild(el("span", "chunk-id mono", c.chunk_id + " · " + c.start + "–" + c.end + " · " + c.sentences + " 句"));
      if (c.context) li.appendChild(el("span", "chunk-context", c.context));
      li.appendChild(el("p", "chunk-text", c.text));
      list.appendChild(li);
    }
    td.appendChild(list);
  }

  async function removeReport(docId, title) {
    if (!window.confirm("删除报告「" + title + "」？删除后不再被检索和引用。")) return;
    const response = await window.zhiwenFetch("/v1/documents/" + encodeURIComponent(docId), { method: "DELETE" });
    if (!response.ok) {
      window.alert("未删除：" + (await errorText(response)));
      return;
    }
    await Promise.all([loadReports(), checkAccess()]);
  }

  /* Sends one file as a job (jobs.js): its line shows the stage and a progress bar; resolves
     with {ok, status, body} as the synchronous call would have answered. */
  function sendFile(url, method, form, line, name) {
    const label = el("span", null, "");
    const bar = el("progress", "upload-progress");
    bar.max = 1;
    return window.zhiwenJobs.send(url, { method, body: form }, (text, fraction) => {
      if (!bar.isConnected) line.replaceChildren(label, bar);
      label.textContent = name + "：" + text;
      if (fraction === null) bar.removeAttribute("value");
      else bar.value = fraction;
    });
  }

  $("upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const results = $("upload-results");
    for (const file of Array.from($("admin-file").files)) {
      const line = el("li", null, file.name + "：上传中…");
      results.appendChild(line);
      const form = new FormData();
      form.append("file", file, file.name);
      let result = await sendFile("/v1/documents", "POST", form, line, file.name);
      const code = result.body && result.body.error ? String(result.body.error.code || "") : "";
      // the file's name is a report's id already (ids.js): replace it, if confirmed
      const id = window.zhiwenDocIdOf(file.name);
      if (result.status === 409 && code === "document_exists" && id &&
          window.confirm("已有同名报告「" + id + "」，要用 " + file.name + " 替换它吗？替换后回答不再引用旧内容。")) {
        line.textContent = file.name + "：替换中…";
        result = await sendFile("/v1/documents/" + encodeURIComponent(id), "PUT", form, line, file.name);
      }
      if (result.ok && result.body) {
        line.textContent = file.name + "：" + (result.body.action === "replaced" ? "已替换 " : "已收录为 ") + result.body.doc_id;
        line.className = "ok";
      } else {
        line.textContent = file.name + "：未收录（" +
          window.zhiwenErrors.text(result.status, result.body && result.body.error) + "）";
        line.className = "error";
      }
    }
    $("admin-file").value = "";
    await Promise.all([loadReports(), checkAccess()]);
  });

  /* -- hit test ----------------------------------------------------------------------------- */
  $("hit-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = $("hit-query").value.trim();
    if (!query) return;
    const response = await window.zhiwenFetch("/v1/search", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ query, top_k: 10, explain: true }),
    });
    const tbody = $("hit-body");
    tbody.replaceChildren();
    $("hit-table").hidden = false;
    if (!response.ok) {
      const row = el("tr");
      cell(row, await errorText(response)).colSpan = 7;
      tbody.appendChild(row);
      return;
    }
    const body = await response.json();
    body.results.forEach((hit, i) => {
      const row = el("tr", "hit");
      cell(row, i + 1);
      cell(row, hit.title || hit.doc_id);
      cell(row, hit.scores.keyword.toFixed(2), "num keyword");
      cell(row, hit.scores.dense.toFixed(3), "num dense");
      cell(row, hit.scores.fused.toFixed(3), "num fused");
      cell(row, (hit.matched_terms || []).join(" "), "terms");
      cell(row, hit.text.length > 120 ? hit.text.slice(0, 120) + "…" : hit.text, "excerpt");
      tbody.appendChild(row);
    });
  });

  /* -- curated answers ---------------------------------------------------------------------- */
  async function loadFaq() {
    const response = await window.zhiwenFetch("/v1/faq");
    const tbody = $("faq-body");
    tbody.replaceChildren();
    if (!response.ok) {
      $("faq-note").textContent = await errorText(response);
      return;
    }
    const body = await response.json();
    $("faq-note").textContent = body.items.length + " 条 · 相似度阈值 " + body.threshold;
    for (const item of body.items) {
      const row = el("tr", "faq-item");
      cell(row, item.question);
      cell(row, item.answer);
      cell(row, item.source || "");
      const remove = el("button", "ghost danger delete", "删除");
      remove.type = "button";
      remove.addEventListener("click", async () => {
        const done = await window.zhiwenFetch("/v1/faq/" + encodeURIComponent(item.id), { method: "DELETE" });
        if (!done.ok) window.alert("未删除：" + (await errorText(done)));
        loadFaq();
      });
      cell(row, null, "actions").appendChild(remove);
      tbody.appendChild(row);
    }
  }

  $("faq-import").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = $("faq-file").files[0];
    if (!file) return;
    const form = new FormData();
    form.append("file", file, file.name);
    const response = await window.zhiwenFetch("/v1/faq/import", { method: "POST", body: form });
    const result = $("faq-result");
    if (!response.ok) {
      result.textContent = "未导入：" + (await errorText(response));
    } else {
      const body = await response.json();
      const skipped = body.skipped.map((s) => "第 " + s.row + " 行：" + s.reason).join("；");
      result.textContent = "已导入 " + body.imported + " 条" + (skipped ? "；跳过 " + skipped : "");
    }
    $("faq-file").value = "";
    loadFaq();
  });

  /* -- feedback ----------------------------------------------------------------------------- */
  async function loadFeedback() {
    const rating = $("feedback-rating").value;
    const response = await window.zhiwenFetch("/v1/feedback" + (rating ? "?rating=" + rating : ""));
    if (response.status === 404 || response.status === 405) return; // no feedback on this server
    $("feedback-section").hidden = false;
    const list = $("feedback-list");
    list.replaceChildren();
    if (!response.ok) {
      list.appendChild(el("li", "error", await errorText(response)));
      return;
    }
    const body = await response.json();
    const items = Array.isArray(body) ? body : body.feedback || body.items || [];
    if (!items.length) list.appendChild(el("li", "admin-note", "暂无反馈"));
    for (const f of items) {
      const li = el("li", "feedback-item");
      li.appendChild(el("span", "rating", f.rating === "up" ? "👍" : "👎"));
      li.appendChild(el("span", "question", f.question || ""));
      if (f.answer) li.appendChild(el("p", "answer", f.answer));
      const correction = f.correction || {};
      if (correction.answer) li.appendChild(el("p", "correction", "更正：" + correction.answer));
      if (f.comment) li.appendChild(el("p", "comment", f.comment));
      li.appendChild(el("span", "admin-note", f.created_at || ""));
      list.appendChild(li);
    }
  }
  $("feedback-rating").addEventListener("change", loadFeedback);

  // 更换密钥 / 退出 (auth.js): start again with the new key, or ask for one
  document.addEventListener("zhiwen:key-changed", () => window.location.reload());

  checkAccess().then((ok) => {
    if (!ok) return;
    loadReports();
    loadFaq();
    loadFeedback();
  });
})();
