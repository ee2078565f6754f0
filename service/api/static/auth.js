// 知问 — API keys for the chat page and the report view.
// When the server requires keys for reads (ZHIWEN_READ_API_KEYS_REQUIRED), a request answered
// 401 (no key) or 403 (a wrong key) asks the user for a key once, keeps it for this tab
// (sessionStorage) and retries; every later request sends it.
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
  }

  let sessionKey = storedKey();

  function askForKey(rejected) {
    if (!asking) {
      asking = Promise.resolve().then(() => {
        const entered = window.prompt(
          rejected ? "访问密钥无效，请重新输入：" : "此服务需要访问密钥，请输入：",
          ""
        );
        const key = entered === null ? "" : entered.trim();
        if (key) storeKey(key);
        else if (rejected) storeKey("");
        asking = null;
        return key;
      });
    }
    return asking;
  }

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
