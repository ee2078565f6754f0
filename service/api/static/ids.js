/* 知问 — the report id a file's name gives, as the server gives it (indexer.ingest.corpus.doc_id_from_name):
   the chat page's upload box and the admin page send it as doc_id, so a 409 names the report they
   can offer to replace. tests/web/test_upload_box.py keeps the two rules equal. */
(function () {
  "use strict";

  // Chinese names included (「海棠街道民生工作总结.docx」 is report 海棠街道民生工作总结); a name with
  // nothing usable gives null, and the server derives an id from the file's content.
  const FIRST = "A-Za-z0-9\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff";
  const OPEN = "(\uff08\u3010\u300a";
  const MARKS = "_.\\-()\uff08\uff09\u3010\u3011\u300a\u300b\u00b7\u3001\u2014";
  const DOC_ID = new RegExp("^[" + FIRST + OPEN + "][" + FIRST + MARKS + "]{0,127}$");
  const NOT_IN_ID = new RegExp("[^" + FIRST + MARKS + "]+", "g");
  const LEADING = new RegExp("^[^" + FIRST + OPEN + "]+");

  /* The id the server gives a file by default: its name without the extension, made safe. */
  function docIdOf(name) {
    const base = name.split(/[\\/]/).pop();
    const dot = base.lastIndexOf(".");
    const stem = dot > 0 ? base.slice(0, dot) : base;
    const id = stem.normalize("NFKC").trim().replace(NOT_IN_ID, "_").replace(/_+/g, "_")
      .replace(LEADING, "").slice(0, 128).replace(/_+$/, "");
    return DOC_ID.test(id) ? id : null;
  }
  window.zhiwenDocIdOf = docIdOf;
})();
