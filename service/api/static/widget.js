/* 知问 embeddable chat widget.
 *
 *   <script src="http://HOST:8000/widget.js" defer></script>
 *
 * Optional attributes: data-title (panel title, default "知问"), data-api (API base URL, default:
 * the origin this script was loaded from), data-open="true" (start opened), data-kb (the knowledge
 * base to answer from; default: the server's default one).
 * The host site's origin must be allowed by the server: ZHIWEN_CORS_ORIGINS='["https://site"]'.
 * Everything lives in a shadow root, so the host page's CSS does not leak in (and ours not out).
 * Answers and quotes are rendered with textContent only. */
(function () {
  "use strict";
  if (window.__zhiwenWidget) return;
  window.__zhiwenWidget = true;

  var script =
    document.currentScript ||
    (function () {
      var all = document.querySelectorAll("script[src*='widget.js']");
      return all[all.length - 1] || null;
    })();
  var ds = (script && script.dataset) || {};
  var apiBase = String(ds.api || (script && script.src ? new URL(script.src, location.href).origin : location.origin));
  apiBase = apiBase.replace(/\/+$/, "");

  // Errors are told in Chinese by the service's own errors.js (the code of an API error → words);
  // until it loads, or where the host page blocks it, a Chinese line with the status.
  if (!window.zhiwenErrors) {
    var errorsScript = document.createElement("script");
    errorsScript.src = apiBase + "/static/errors.js";
    errorsScript.async = true;
    document.head.appendChild(errorsScript);
  }
  function errorText(status, error) {
    return window.zhiwenErrors ? window.zhiwenErrors.text(status, error) : "服务返回错误（HTTP " + status + "）";
  }
  async function failure(response) {
    var error = null;
    try {
      var body = await response.json();
      error = body && body.error;
    } catch (_) { /* not JSON */ }
    var e = new Error("HTTP " + response.status);
    e.zhiwenText = errorText(response.status, error);
    return e;
  }
  var title = String(ds.title || "知问");
  // data-kb: the knowledge base the widget answers from (default: the server's default one)
  var kbQuery = ds.kb ? "?kb=" + encodeURIComponent(String(ds.kb)) : "";

  var CSS = [
    ":host { all: initial; }",
    "* { box-sizing: border-box; }",
    ".zw { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; font-family: system-ui, -apple-system, 'PingFang SC', 'Microsoft YaHei', 'Noto Sans CJK SC', sans-serif; font-size: 15px; line-height: 1.65; color: #1f2933; }",
    ".launcher { width: 56px; height: 56px; border-radius: 50%; border: 0; cursor: pointer; background: #1f5fbf; color: #fff; font-size: 22px; font-weight: 700; box-shadow: 0 6px 18px rgba(16,24,40,.25); font-family: inherit; }",
    ".launcher:hover { background: #174a93; }",
    ".launcher:focus-visible, button:focus-visible, textarea:focus-visible, a:focus-visible { outline: 2px solid #1f5fbf; outline-offset: 2px; }",
    ".panel { position: absolute; right: 0; bottom: 70px; width: 380px; max-width: calc(100vw - 24px); height: 540px; max-height: calc(100vh - 110px); display: flex; flex-direction: column; background: #fff; border: 1px solid #dfe5ec; border-radius: 14px; box-shadow: 0 12px 32px rgba(16,24,40,.22); overflow: hidden; }",
    ".panel[hidden] { display: none; }",
    ".head { display: flex; align-items: center; justify-content: space-between; padding: 10px 14px; background: #1f5fbf; color: #fff; }",
    ".head strong { font-size: 16px; }",
    ".head button { border: 0; background: transparent; color: #fff; font-size: 20px; cursor: pointer; line-height: 1; padding: 4px 6px; border-radius: 6px; font-family: inherit; }",
    ".head button:hover { background: rgba(255,255,255,.18); }",
    ".log { flex: 1; overflow-y: auto; padding: 12px; background: #f4f6f9; display: flex; flex-direction: column; gap: 10px; }",
    ".empty { color: #66727f; font-size: 14px; text-align: center; margin: 24px 8px; }",
    ".msg { max-width: 92%; padding: 8px 12px; border-radius: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }",
    ".user { align-self: flex-end; background: #1f5fbf; color: #fff; border-bottom-right-radius: 4px; }",
    ".bot { align-self: flex-start; background: #fff; border: 1px solid #dfe5ec; border-bottom-left-radius: 4px; }",
    ".bot.pending { color: #66727f; }",
    ".bot.error { background: #fdecea; border-color: #f5c2bd; color: #b42318; }",
    ".refs { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; white-space: normal; }",
    ".refg { display: inline-flex; align-items: center; gap: 3px; max-width: 100%; padding: 2px; border: 1px solid #c5d6f2; border-radius: 999px; font-size: 12px; }",
    ".refg .n { display: inline-block; min-width: 18px; height: 18px; line-height: 18px; text-align: center; border-radius: 999px; background: #1f5fbf; color: #fff; font-size: 11px; padding: 0 4px; text-decoration: none; }",
    ".ref { display: inline-flex; align-items: center; min-width: 0; padding: 0 6px 0 2px; border-radius: 999px; color: #1f2933; text-decoration: none; }",
    ".ref:hover { background: #e8f0fc; }",
    ".ref .t { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; max-width: 16em; }",
    ".groups { margin: 6px 0 0; padding-left: 1.4em; white-space: normal; }",
    ".groups > li { margin: 6px 0; }",
    ".gh { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; }",
    ".gh strong { font-weight: 600; }",
    ".gq { margin: 2px 0 0; padding-left: 1em; font-size: 14px; }",
    ".groups.comparison { list-style: none; padding-left: 0; }",
    ".gn { margin-top: 6px; }",
    "form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #dfe5ec; background: #fff; }",
    "textarea { flex: 1; resize: none; border: 1px solid #dfe5ec; border-radius: 10px; padding: 7px 10px; font: inherit; color: inherit; min-height: 40px; max-height: 120px; }",
    "textarea:focus { border-color: #1f5fbf; outline: none; }",
    ".send { border: 0; border-radius: 10px; padding: 0 14px; background: #1f5fbf; color: #fff; font: inherit; font-weight: 600; cursor: pointer; }",
    ".send:disabled { opacity: .5; cursor: not-allowed; }",
    ".fb { display: flex; align-items: center; gap: 6px; margin-top: 6px; white-space: normal; }",
    ".fb button { border: 1px solid #dfe5ec; background: #fff; border-radius: 999px; padding: 0 8px; font: inherit; font-size: 14px; cursor: pointer; }",
    ".fb button:disabled { cursor: default; opacity: .55; }",
    ".fb button.chosen { opacity: 1; background: #e8f0fc; border-color: #1f5fbf; }",
    ".fb-status { font-size: 12px; color: #66727f; }",
    ".fb-form { display: flex; flex-direction: column; gap: 6px; margin-top: 6px; padding: 0; border: 0; white-space: normal; background: transparent; }",
    ".fb-form[hidden] { display: none; }",
    ".fb-form label { font-size: 13px; color: #66727f; }",
    ".fb-form input { border: 1px solid #dfe5ec; border-radius: 10px; padding: 5px 10px; font: inherit; color: inherit; }",
    ".fb-form input:focus { border-color: #1f5fbf; outline: none; }",
    ".fb-form .row { display: flex; gap: 6px; }",
    ".fb-form .fb-submit { border: 0; border-radius: 10px; padding: 3px 12px; background: #1f5fbf; color: #fff; font: inherit; font-weight: 600; cursor: pointer; }",
    ".fb-form .fb-submit:disabled { opacity: .5; cursor: not-allowed; }",
    ".fb-form .cancel { border: 1px solid #dfe5ec; background: #fff; border-radius: 10px; padding: 3px 12px; font: inherit; cursor: pointer; }",
    "@media (max-width: 480px) { .zw { right: 12px; bottom: 12px; } .panel { position: fixed; left: 8px; right: 8px; bottom: 80px; width: auto; height: auto; top: 12px; max-height: none; } }",
  ].join("\n");

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function reportUrl(c) {
    var url = apiBase + "/reports/" + encodeURIComponent(String(c.doc_id));
    var s = Number(c.start);
    var e = Number(c.end);
    if (Number.isInteger(s) && Number.isInteger(e)) url += "?start=" + s + "&end=" + e;
    if (Number.isInteger(c.page) && c.page > 0) url += (url.indexOf("?") >= 0 ? "&" : "?") + "page=" + c.page;
    if (kbQuery) url += (url.indexOf("?") >= 0 ? "&" : "?") + kbQuery.slice(1);
    return url;
  }

  function mount() {
    var host = el("div");
    host.id = "zhiwen-widget";
    document.body.appendChild(host);
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    var style = el("style", null, CSS);
    root.appendChild(style);

    var wrap = el("div", "zw");
    var panel = el("section", "panel");
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", title);
    var head = el("div", "head");
    head.appendChild(el("strong", null, title));
    var close = el("button", null, "×");
    close.type = "button";
    close.setAttribute("aria-label", "关闭");
    head.appendChild(close);
    var log = el("div", "log");
    log.setAttribute("aria-live", "polite");
    log.appendChild(el("p", "empty", "请输入问题，回答依据报告原文并附出处。"));
    var form = el("form");
    var input = el("textarea");
    input.rows = 1;
    input.maxLength = 2000;
    input.placeholder = "输入问题，Enter 发送";
    input.setAttribute("aria-label", "问题");
    var send = el("button", "send", "发送");
    send.type = "submit";
    form.appendChild(input);
    form.appendChild(send);
    panel.appendChild(head);
    panel.appendChild(log);
    panel.appendChild(form);

    var launcher = el("button", "launcher", "问");
    launcher.type = "button";
    launcher.setAttribute("aria-label", "打开" + title + "问答");
    launcher.setAttribute("aria-expanded", "false");
    wrap.appendChild(panel);
    wrap.appendChild(launcher);
    root.appendChild(wrap);

    var history = [];
    var busy = false;

    function setOpen(open) {
      panel.hidden = !open;
      launcher.setAttribute("aria-expanded", String(open));
      launcher.textContent = open ? "×" : "问";
      if (open) input.focus();
    }
    launcher.addEventListener("click", function () {
      setOpen(panel.hidden);
    });
    close.addEventListener("click", function () {
      setOpen(false);
      launcher.focus();
    });
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        setOpen(false);
        launcher.focus();
      }
    });

    function scroll() {
      log.scrollTop = log.scrollHeight;
    }

    /* one chip per report: a number per citation (each opening its span), then the title */
    function refChip(cites) {
      var box = el("span", "refg");
      cites.forEach(function (c) {
        var n = el("a", "n", c.n);
        n.href = reportUrl(c);
        n.target = "_blank";
        n.rel = "noopener";
        n.title = c.quote || "";
        box.appendChild(n);
      });
      var a = el("a", "ref");
      a.href = reportUrl(cites[0]);
      a.target = "_blank";
      a.rel = "noopener";
      a.title = cites[0].quote || "";
      a.appendChild(el("span", "t", cites[0].title || cites[0].doc_id));
      box.appendChild(a);
      return box;
    }

    function addRefs(bubble, citations) {
      if (!citations || !citations.length) return;
      var refs = el("div", "refs");
      var order = [];
      var byDoc = {};
      citations.forEach(function (c) {
        var key = String(c.doc_id);
        if (!byDoc[key]) {
          byDoc[key] = [];
          order.push(key);
        }
        byDoc[key].push(c);
      });
      order.forEach(function (key) { refs.appendChild(refChip(byDoc[key])); });
      bubble.appendChild(refs);
    }

    function grouped(final) {
      return Boolean(final) && (final.answer_kind === "list" || final.answer_kind === "comparison") &&
        Array.isArray(final.groups) && final.groups.length > 0;
    }

    /* a list or comparison answer: its lead-in, then per report its place, chip and quotes, then
       any closing line (a comparison's verdict). A line citing only one group's numbers is that
       group's line (「1. 九水街道：…[1]」); it names the group's heading. */
    function addGroups(bubble, text, final) {
      var owner = {};
      final.groups.forEach(function (g, i) {
        (g.citations || []).forEach(function (c) { owner[String(c.n)] = i; });
      });
      var intro = [];
      var outro = [];
      var lineOf = {};
      var seen = 0;
      text.split("\n").forEach(function (line) {
        var owners = [];
        var re = /\[(\d+)\]/g;
        var m;
        while ((m = re.exec(line)) !== null) {
          var o = owner[m[1]];
          if (owners.indexOf(o) < 0) owners.push(o);
        }
        var only = owners.length === 1 ? owners[0] : undefined;
        if (only !== undefined) {
          if (!(only in lineOf)) {
            lineOf[only] = line;
            seen += 1;
          }
        } else if (!seen) intro.push(line);
        else outro.push(line);
      });
      bubble.replaceChildren();
      var lead = intro.join("\n").trim();
      if (lead) bubble.appendChild(document.createTextNode(lead));
      var list = el(final.answer_kind === "list" ? "ol" : "ul", "groups " + final.answer_kind);
      final.groups.forEach(function (g, i) {
        var li = el("li");
        var head = el("div", "gh");
        var line = String(lineOf[i] || "");
        var label = line.replace(/^\s*\d+[.、]\s*/, "").split("：")[0].trim();
        var places = (g.places || []).map(String);
        var name = places.filter(function (p) { return p === label; })[0] ||
          places.filter(function (p) { return line.indexOf(p) >= 0; })[0] || places[0] || g.title || g.doc_id;
        head.appendChild(el("strong", null, name));
        var cites = g.citations || [];
        if (cites.length) head.appendChild(refChip(cites));
        li.appendChild(head);
        var quotes = el("ul", "gq");
        cites.forEach(function (c) {
          quotes.appendChild(el("li", null, "「" + String(c.quote || "").replace(/\s*\n\s*/g, "") + "」[" + c.n + "]"));
        });
        li.appendChild(quotes);
        list.appendChild(li);
      });
      bubble.appendChild(list);
      var close = outro.join("\n").trim();
      if (close) bubble.appendChild(el("div", "gn", close));
    }

    /* 👍 / 👎 under an answer; 👎 opens a small form for the right answer (optional). */
    function addFeedback(bubble, answerId, question, answerText) {
      if (!answerId) return;
      var bar = el("div", "fb");
      var up = el("button", "fb-up", "👍 有帮助");
      up.type = "button";
      up.setAttribute("aria-label", "回答有帮助");
      var down = el("button", "fb-down", "👎 有误");
      down.type = "button";
      down.setAttribute("aria-label", "回答有误，提交更正");
      down.setAttribute("aria-expanded", "false");
      var status = el("span", "fb-status");
      status.setAttribute("role", "status");
      bar.appendChild(up);
      bar.appendChild(down);
      bar.appendChild(status);
      var box = el("form", "fb-form");
      box.hidden = true;
      var label = el("label", null, "正确答案（可选）");
      // an input, not a textarea: the question box stays the widget's only textarea
      var field = el("input", "fb-answer");
      field.type = "text";
      field.maxLength = 4000;
      field.setAttribute("aria-label", "正确答案（可选）");
      var row = el("div", "row");
      var submit = el("button", "fb-submit", "提交反馈");
      submit.type = "submit";
      var cancel = el("button", "cancel", "取消");
      cancel.type = "button";
      row.appendChild(submit);
      row.appendChild(cancel);
      box.appendChild(label);
      box.appendChild(field);
      box.appendChild(row);

      async function post(rating, correction) {
        var body = { answer_id: answerId, rating: rating, question: question, answer: answerText.slice(0, 4000) };
        if (correction) body.correction = { answer: correction };
        [up, down, submit].forEach(function (b) { b.disabled = true; });
        status.textContent = "正在提交…";
        try {
          var response = await fetch(apiBase + "/v1/feedback" + kbQuery, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify(body),
          });
          if (!response.ok) throw await failure(response);
          var chosen = rating === "up" ? up : down;
          chosen.classList.add("chosen");
          chosen.setAttribute("aria-pressed", "true");
          box.hidden = true;
          down.setAttribute("aria-expanded", "false");
          status.textContent = correction ? "已提交更正，谢谢！" : "已反馈，谢谢！";
          bar.dataset.sent = rating;
        } catch (e) {
          [up, down, submit].forEach(function (b) { b.disabled = false; });
          status.textContent = "反馈未送达：" + (e && e.zhiwenText ? e.zhiwenText : "无法连接服务器，请检查网络后重试");
          bar.dataset.sent = "error";
        }
      }

      up.addEventListener("click", function () { post("up", null); });
      down.addEventListener("click", function () {
        box.hidden = !box.hidden;
        down.setAttribute("aria-expanded", String(!box.hidden));
        if (!box.hidden) field.focus();
      });
      cancel.addEventListener("click", function () {
        box.hidden = true;
        down.setAttribute("aria-expanded", "false");
      });
      box.addEventListener("submit", function (event) {
        event.preventDefault();
        post("down", field.value.trim() || null);
      });
      bubble.appendChild(bar);
      bubble.appendChild(box);
    }

    async function readStream(response, onChunk) {
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buf = "";
      for (;;) {
        var r = await reader.read();
        if (r.done) return;
        buf += decoder.decode(r.value, { stream: true }).replace(/\r\n/g, "\n");
        var idx;
        while ((idx = buf.indexOf("\n\n")) >= 0) {
          var block = buf.slice(0, idx);
          buf = buf.slice(idx + 2);
          var data = block
            .split("\n")
            .filter(function (l) { return l.indexOf("data:") === 0; })
            .map(function (l) { return l.slice(5).replace(/^ /, ""); })
            .join("\n");
          if (data === "[DONE]") return;
          if (data) onChunk(JSON.parse(data));
        }
      }
    }

    async function ask(question) {
      var empty = log.querySelector(".empty");
      if (empty) empty.remove();
      log.appendChild(el("div", "msg user", question));
      var bubble = el("div", "msg bot pending", "正在检索…");
      log.appendChild(bubble);
      scroll();
      busy = true;
      send.disabled = true;
      var text = "";
      var textNode = document.createTextNode("");
      var citations = [];
      var final = null;
      var answerId = "";
      try {
        var response = await fetch(apiBase + "/v1/chat/completions" + kbQuery, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({
            messages: history.concat([{ role: "user", content: question }]).slice(-12),
            stream: true,
            include_sources: false,
          }),
        });
        if (!response.ok) throw await failure(response);
        await readStream(response, function (chunk) {
          if (chunk.error) {
            var streamError = new Error("stream error");
            streamError.zhiwenText = "生成回答时出错：" + errorText(500, chunk.error);
            throw streamError;
          }
          var choice = (chunk.choices || [])[0];
          var delta = choice && choice.delta && choice.delta.content;
          if (delta) {
            if (!text) {
              bubble.classList.remove("pending");
              bubble.replaceChildren(textNode);
            }
            text += delta;
            textNode.data = text;
            scroll();
          }
          if (chunk.citations) {
            citations = chunk.citations;
            final = chunk;
          }
          if (typeof chunk.answer_id === "string") answerId = chunk.answer_id;
          if (typeof chunk.answer === "string") text = chunk.answer;
        });
        bubble.classList.remove("pending");
        textNode.data = text;
        if (grouped(final)) addGroups(bubble, text, final);
        else {
          bubble.replaceChildren(textNode);
          addRefs(bubble, citations);
        }
        addFeedback(bubble, answerId, question, text);
        bubble.dataset.done = "true";
        history.push({ role: "user", content: question });
        history.push({ role: "assistant", content: text });
      } catch (err) {
        bubble.className = "msg bot error";
        bubble.dataset.done = "error";
        var reason = err && err.name === "TypeError"
          ? "无法连接到问答服务：本站点可能未获准跨域访问（请管理员在 ZHIWEN_CORS_ORIGINS 中加入 " + location.origin + "），或服务暂不可用。"
          : "出错了：" + (err && err.zhiwenText ? err.zhiwenText : "处理时出错，请重试");
        bubble.textContent = reason;
      } finally {
        busy = false;
        send.disabled = false;
        scroll();
      }
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var q = input.value.trim();
      if (!q || busy) return;
      input.value = "";
      ask(q);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        form.requestSubmit();
      }
    });

    if (ds.open === "true") setOpen(true);
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
