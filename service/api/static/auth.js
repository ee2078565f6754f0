// 知问 — API keys for the chat page, the admin page and the report view.
// A request answered 401 (no key) or 403 (a wrong key) asks for a key once, in a masked field of
// an in-page dialog (never window.prompt, which shows what is typed), keeps it for this tab
// (sessionStorage) and retries; every later request sends it. While a key is kept, the page's
// top bar offers 更换密钥 (change it) and 退出 (forget it); both fire "zhiwen:key-changed".
// Not localStorage: that is shared by every document of the origin, for ever, so any page that
// ever ran script here could read the key (issue 36). sessionStorage is per tab and gone when the
// tab closes, and the original files (/v1/documents/{id}/file) are sent with a CSP sandbox, so
// even in this tab they get an opaque origin and can read neither storage. A report view opened
// from a page (links with rel="opener") starts with a copy of that tab's sessionStorage, so it
// does not ask again.
(function () {
  "use strict";

  const STORE = "zhiwen.apiKey";
  let asking = null; // one prompt at a time, however many requests wait on it

  function storedKey() {
    try {
      // a key kept by an earlier version of this page: forget it (ask once in this tab instead)
      window.localStorage.removeItem(STORE);
    } catch (_) {
      /* storage disabled */
    }
    try {
      return window.sessionStorage.getItem(STORE) || "";
    } catch (_) {
      return "";
    }
  }

  function storeKey(key) {
    try {
      if (key) window.sessionStorage.setItem(STORE, key);
      else window.sessionStorage.removeItem(STORE);
    } catch (_) {
      /* storage disabled: the key lives until the page closes */
    }
    sessionKey = key;
    renderControl();
  }

  let sessionKey = storedKey();

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /* The key dialog: a password field (with 显示 to check what was typed), 确定 and 取消. */
  function keyDialog() {
    let dialog = document.getElementById("key-dialog");
    if (dialog) return dialog;
    dialog = el("dialog", "key-dialog");
    dialog.id = "key-dialog";
    dialog.setAttribute("aria-labelledby", "key-dialog-title");
    const form = el("form");
    form.method = "dialog";
    const title = el("h2", null, "访问密钥");
    title.id = "key-dialog-title";
    const message = el("p", "key-dialog-message");
    message.id = "key-dialog-message";
    const label = el("label", "key-dialog-label", "密钥");
    label.htmlFor = "key-input";
    const input = el("input");
    input.id = "key-input";
    input.type = "password";
    input.autocomplete = "off";
    input.spellcheck = false;
    input.setAttribute("aria-describedby", "key-dialog-message");
    const show = el("label", "key-dialog-show");
    const showBox = el("input");
    showBox.type = "checkbox";
    showBox.id = "key-show";
    showBox.addEventListener("change", () => { input.type = showBox.checked ? "text" : "password"; });
    show.append(showBox, " 显示密钥");
    const actions = el("div", "key-dialog-actions");
    const cancel = el("button", "ghost", "取消");
    cancel.type = "button";
    cancel.id = "key-cancel";
    cancel.addEventListener("click", () => dialog.close("cancel"));
    const ok = el("button", "send", "确定");
    ok.type = "submit";
    ok.id = "key-ok";
    ok.value = "ok";
    actions.append(cancel, ok);
    form.append(title, message, label, input, show, actions);
    dialog.appendChild(form);
    document.body.appendChild(dialog);
    return dialog;
  }

  /* Opens the dialog; resolves with the key entered ("" when cancelled). */
  function openKeyDialog(text) {
    const dialog = keyDialog();
    const input = document.getElementById("key-input");
    document.getElementById("key-dialog-message").textContent = text;
    document.getElementById("key-show").checked = false;
    input.type = "password";
    input.value = "";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        resolve(dialog.returnValue === "ok" ? input.value.trim() : "");
        input.value = "";
      }, { once: true });
      dialog.returnValue = "";
      dialog.showModal();
      input.focus();
    });
  }

  function askForKey(rejected) {
    if (!asking) {
      asking = openKeyDialog(
        rejected ? "访问密钥无效，请重新输入。" : "此服务需要访问密钥，请输入。"
      ).then((key) => {
        if (key) storeKey(key);
        else if (rejected) storeKey("");
        asking = null;
        return key;
      });
    }
    return asking;
  }

  /* 更换密钥 and 退出 in the top bar, while a key is kept. */
  function renderControl() {
    const bar = document.querySelector(".topbar-actions") || document.querySelector(".topbar");
    if (!bar) return;
    let control = document.getElementById("key-control");
    if (!control) {
      control = el("span", "key-control");
      control.id = "key-control";
      const change = el("button", "ghost", "更换密钥");
      change.type = "button";
      change.id = "key-change";
      change.addEventListener("click", async () => {
        const key = await openKeyDialog("输入新的访问密钥。");
        if (!key) return;
        storeKey(key);
        document.dispatchEvent(new CustomEvent("zhiwen:key-changed", { detail: { signedIn: true } }));
      });
      const out = el("button", "ghost", "退出");
      out.type = "button";
      out.id = "key-signout";
      out.title = "在此标签页中忘记访问密钥";
      out.addEventListener("click", () => {
        storeKey("");
        document.dispatchEvent(new CustomEvent("zhiwen:key-changed", { detail: { signedIn: false } }));
      });
      control.append(change, out);
      bar.appendChild(control);
    }
    control.hidden = !sessionKey;
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", renderControl);
  else renderControl();

  // The knowledge base the page works in (app.js's selector, or the report view's ?kb=): every
  // API call but /v1/kbs names it, so keys scoped to it are checked against it.
  window.zhiwenKbName = new URLSearchParams(window.location.search).get("kb") || "default";

  function withKb(url) {
    const kb = window.zhiwenKbName;
    if (!kb || kb === "default" || !url.startsWith("/v1/") || url.startsWith("/v1/kbs")) return url;
    if (/[?&]kb=/.test(url)) return url; // the caller named one (feedback on an earlier answer)
    return url + (url.includes("?") ? "&" : "?") + "kb=" + encodeURIComponent(kb);
  }

  async function zhiwenFetch(url, options) {
    url = withKb(String(url));
    const opts = Object.assign({}, options || {});
    let response = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      const headers = new Headers(opts.headers || {});
      const key = sessionKey;
      if (key) headers.set("Authorization", "Bearer " + key);
      response = await fetch(url, Object.assign({}, opts, { headers }));
      // 403 without a key means "not allowed at all" (writes disabled): nothing to ask for
      const wantsKey = response.status === 401 || (response.status === 403 && key);
      if (!wantsKey) return response;
      if (sessionKey !== key) continue; // another request got a new key meanwhile
      if (!(await askForKey(response.status === 403))) return response;
    }
    return response;
  }

  window.zhiwenFetch = zhiwenFetch;
})();
