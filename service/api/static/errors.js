/* 知问 — what an API error means, in Chinese, for every page (chat, admin, report view, widget).
   The API answers {"error": {"code", "message", "details": [{field, message}]}}: the code is
   stable, the message is for developers (English). People read only the Chinese text made here
   from the code, the HTTP status and the field names — never the English message.
   tests/web/test_error_messages.py walks every code the server can send. */
(function () {
  "use strict";

  const BY_CODE = {
    validation_error: "请求内容不符合要求",
    invalid_field: "请求中有不支持的字段",
    invalid_doc_id: "报告编号不可用，请改用其他文件名",
    not_found: "未找到所请求的内容（可能已被删除）",
    not_in_report: "所引原文不在该报告中",
    method_not_allowed: "不支持这项操作",
    not_acceptable: "服务器无法按所要求的格式答复",
    document_exists: "已有同名报告",
    write_in_progress: "服务器正在处理另一项更新，请稍后重试",
    conflict: "与已有报告冲突，请改用其他文件名",
    payload_too_large: "文件或内容太大，超过服务器允许的上限",
    unsupported_media_type: "无法读取该文件：格式不受支持，或文件已损坏、加密",
    unauthorized: "需要访问密钥",
    forbidden: "访问密钥无效，或无权进行这项操作",
    loading: "服务正在加载索引，请稍候再试",
    service_unavailable: "服务暂不可用，请稍后重试",
    index_unavailable: "索引暂不可用，请联系管理员",
    backend_unavailable: "检索服务暂时连不上，请稍后重试",
    feedback_unavailable: "反馈暂时无法保存，请稍后重试",
    faq_unavailable: "常见问答暂时无法使用，请稍后重试",
    docs_unavailable: "接口文档暂不可用",
    bad_request: "请求无法解析",
    cors_refused: "此网站未被允许使用知问",
    request_timeout: "请求超时，请重试",
    too_many_requests: "请求太频繁，请稍后再试",
    internal_error: "服务器内部错误，请稍后重试或联系管理员",
    interrupted: "服务重启，上传中断，未收录任何内容，请重新上传",
  };

  const BY_STATUS = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 408: "request_timeout", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "too_many_requests",
    500: "internal_error", 503: "service_unavailable",
  };

  // field names of the API, as people call them
  const FIELDS = [
    [/^(question|query)$|^messages\.\d+\.content$|^messages$/, "问题"],
    [/^top_k$/, "返回条数"],
    [/^filters\b/, "筛选条件"],
    [/^doc_id$/, "报告编号"],
    [/^title$/, "标题"],
    [/^(text|file|body)$/, "报告内容"],
    [/^correction\b/, "更正内容"],
    [/^comment$/, "备注"],
    [/^answer$/, "回答"],
    [/^rating$/, "评价"],
    [/^(since|limit|kb)$/, "查询条件"],
  ];

  const NETWORK = "无法连接服务器，请检查网络后重试";

  function fieldName(field) {
    const name = String(field || "").replace(/^body\./, "");
    for (const [pattern, words] of FIELDS) if (pattern.test(name)) return words;
    return "";
  }

  /* One detail of a 422 in Chinese: 「问题太长：最多 1000 字」. */
  function detailText(detail) {
    const words = fieldName(detail && detail.field);
    const message = String((detail && detail.message) || "");
    const most = /at most (\d[\d,]*)/.exec(message);
    if (words && most) return words + "太长：最多 " + most[1].replace(/,/g, "") + " 字";
    const least = /at least (\d+)|empty|blank|whitespace/.exec(message);
    if (words && least) return words + "不能为空";
    return words ? words + "不符合要求" : "";
  }

  /* The Chinese text of an error: ``status`` (HTTP), ``error`` (the body's "error" object). */
  function text(status, error) {
    const err = error && typeof error === "object" ? error : {};
    let code = String(err.code || "");
    if (!BY_CODE[code]) code = BY_STATUS[status] || (status >= 500 ? "internal_error" : "bad_request");
    if (code === "validation_error" && Array.isArray(err.details)) {
      const parts = err.details.map(detailText).filter(Boolean);
      if (parts.length) return [...new Set(parts)].join("；");
    }
    return BY_CODE[code];
  }

  /* The Chinese text of a failed fetch Response (its JSON body read if it has one). */
  async function fromResponse(response) {
    let error = null;
    try {
      const body = await response.json();
      error = body && body.error;
    } catch (_) {
      /* not JSON: the status says it */
    }
    return text(response.status, error);
  }

  /* A thrown fetch error: the network (「Failed to fetch」) or a stopped request. */
  function thrown(err) {
    if (err && err.zhiwenText) return String(err.zhiwenText);
    if (err instanceof TypeError) return NETWORK; // fetch's 「Failed to fetch」
    return "处理时出错，请重试";
  }

  window.zhiwenErrors = { text, fromResponse, thrown, codes: Object.keys(BY_CODE), NETWORK };
})();
