/* 知问 — following an upload job (POST/PUT /v1/documents with Prefer: respond-async → 202; then
   GET /v1/jobs/{id}): the chat page's upload box and the admin page show its stage in Chinese
   and a progress bar until it is done or failed. */
(function () {
  "use strict";

  // what each stage is called, and how its count reads
  const STAGES = {
    read: () => "正在读取文件…",
    ocr: (d, n) => "正在识别扫描页：第 " + Math.min(d + 1, n) + "/" + n + " 页",
    chunk: () => "正在切分段落…",
    embed: (d, n) => "正在生成向量：" + d + "/" + n,
    publish: () => "正在发布到索引…",
  };
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /* Polls the job until it is done or failed; ``onUpdate(text, fraction)`` gets each state
     (fraction null when the stage has no count). Resolves with the finished job. */
  async function follow(jobId, onUpdate) {
    const started = Date.now();
    for (;;) {
      const response = await window.zhiwenFetch("/v1/jobs/" + encodeURIComponent(jobId));
      if (!response.ok) throw new Error("job " + response.status);
      const job = await response.json();
      if (job.state === "done" || job.state === "failed") return job;
      const stage = STAGES[job.stage];
      let text = stage ? stage(job.done, job.total) : "排队等待处理…";
      const seconds = Math.round((Date.now() - started) / 1000);
      if (seconds >= 2) text += "（已用 " + seconds + " 秒）";
      onUpdate(text, job.total > 0 ? job.done / job.total : null, job);
      await sleep(400);
    }
  }

  /* A finished job as the synchronous call's answer: {ok, status, body}. */
  function outcome(job) {
    if (job.state === "done") return { ok: true, status: job.status || 200, body: job.result };
    return { ok: false, status: job.status || 500, body: { error: { code: job.code, message: job.message } } };
  }

  /* Sends an upload as a job (Prefer: respond-async) and follows it; resolves with {ok, status,
     body} as the synchronous call would have answered (a server answering at once: its answer).
     Throws what fetch throws (the network). */
  async function send(url, options, onUpdate) {
    const headers = Object.assign({}, options.headers || {}, { Prefer: "respond-async" });
    const response = await window.zhiwenFetch(url, Object.assign({}, options, { headers }));
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      /* not JSON: described by the status alone */
    }
    if (response.status !== 202 || !body || !body.job_id) return { ok: response.ok, status: response.status, body };
    return outcome(await follow(body.job_id, onUpdate));
  }

  window.zhiwenJobs = { send };
})();
