/* 知问 chat page: the scope chips above the question box. Two kinds:
   - hand chips (places 街道/社区/区, formats, a date range, from GET /v1/facets through 筛选, or
     an automatic chip pinned by a click) are the request's `filters`: they stay, and narrow every
     question, until removed (×) or 新对话;
   - automatic chips (marked 自动) show the places the last question was read as naming (the
     answer's `question_places`, a follow-up resolved by the server): they are never sent as a
     filter, and each answer replaces them, so a question about another place, or none, does not
     inherit the last one's.
   app.js asks `zhiwenFilters.current()` for the `filters` of each request and hands each answer's
   places to `zhiwenFilters.showScope(places)`. Text only: no HTML is ever written. */
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const bar = $("filter-bar");
  const panel = $("filter-panel");
  const toggle = $("filter-toggle");
  const placeSelect = $("filter-place");
  const formatSelect = $("filter-format");
  const dateFrom = $("filter-from");
  const dateTo = $("filter-to");
  if (!bar) return;

  const FORMAT_LABELS = { txt: "文本", md: "Markdown", html: "网页", docx: "Word", pdf: "PDF", image: "图片" };
  const DATE_INPUTS = { date_from: dateFrom, date_to: dateTo };
  // hand: [{kind, value}] sent as filters; auto: place names shown as the last question's scope
  const state = { hand: [], auto: [] };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function label(chip) {
    if (chip.kind === "place") return chip.value;
    if (chip.kind === "format") return FORMAT_LABELS[chip.value] || chip.value;
    if (chip.kind === "date_from") return chip.value + " 起";
    return chip.value + " 止";
  }

  function has(kind, value) {
    return state.hand.some((c) => c.kind === kind && c.value === value);
  }

  function handChip(chip) {
    const node = el("span", "filter-chip");
    node.dataset.kind = chip.kind;
    node.dataset.value = chip.value;
    node.appendChild(el("span", "filter-label", label(chip)));
    const remove = el("button", "filter-remove", "×");
    remove.type = "button";
    remove.setAttribute("aria-label", "移除筛选：" + label(chip));
    remove.addEventListener("click", () => removeChip(chip));
    node.appendChild(remove);
    return node;
  }

  /* a place the last question named: shown, not a filter; a click pins it as a hand chip */
  function autoChip(name) {
    const node = el("button", "filter-chip auto");
    node.type = "button";
    node.dataset.kind = "place";
    node.dataset.value = name;
    node.title = "上一问题所说的地点，不作为筛选条件；点击后按此地点筛选";
    node.setAttribute("aria-label", "按此地点筛选：" + name);
    node.appendChild(el("span", "filter-label", name));
    node.appendChild(el("span", "filter-auto", "自动"));
    node.addEventListener("click", () => addChip("place", name));
    return node;
  }

  function render() {
    bar.replaceChildren();
    for (const chip of state.hand) bar.appendChild(handChip(chip));
    for (const name of state.auto) if (!has("place", name)) bar.appendChild(autoChip(name));
    bar.hidden = bar.childElementCount === 0;
  }

  function addChip(kind, value) {
    if (!value) return;
    if (DATE_INPUTS[kind]) state.hand = state.hand.filter((c) => c.kind !== kind);
    if (!has(kind, value)) state.hand.push({ kind, value });
    render();
  }

  function removeChip(chip) {
    state.hand = state.hand.filter((c) => c !== chip);
    if (DATE_INPUTS[chip.kind]) DATE_INPUTS[chip.kind].value = "";
    render();
  }

  /* the hand chips as the request's `filters` (null: every report) */
  function current() {
    const filters = {};
    const places = state.hand.filter((c) => c.kind === "place").map((c) => c.value);
    const formats = state.hand.filter((c) => c.kind === "format").map((c) => c.value);
    if (places.length) filters.places = places;
    if (formats.length) filters.formats = formats;
    for (const kind of Object.keys(DATE_INPUTS)) {
      const chip = state.hand.find((c) => c.kind === kind);
      if (chip) filters[kind] = chip.value;
    }
    return Object.keys(filters).length ? filters : null;
  }

  function clearHand() {
    state.hand = [];
    for (const input of Object.values(DATE_INPUTS)) input.value = "";
    render();
  }

  async function loadFacets() {
    try {
      const response = await window.zhiwenFetch("/v1/facets");
      if (!response.ok) return;
      const facets = await response.json();
      placeSelect.replaceChildren(el("option", null, "地点…"));
      placeSelect.options[0].value = "";
      for (const f of facets.places || []) {
        const option = el("option", null, f.name);
        option.value = String(f.name);
        placeSelect.appendChild(option);
      }
      formatSelect.replaceChildren(el("option", null, "格式…"));
      formatSelect.options[0].value = "";
      for (const f of facets.formats || []) {
        const option = el("option", null, FORMAT_LABELS[f.name] || f.name);
        option.value = String(f.name);
        formatSelect.appendChild(option);
      }
      toggle.hidden = false;
    } catch (_) {
      /* no facets: no filter controls; questions go unfiltered */
    }
  }

  toggle.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    toggle.setAttribute("aria-expanded", String(!panel.hidden));
  });
  placeSelect.addEventListener("change", () => {
    addChip("place", placeSelect.value);
    placeSelect.value = "";
  });
  formatSelect.addEventListener("change", () => {
    addChip("format", formatSelect.value);
    formatSelect.value = "";
  });
  dateFrom.addEventListener("change", () => addChip("date_from", dateFrom.value));
  dateTo.addEventListener("change", () => addChip("date_to", dateTo.value));

  window.zhiwenFilters = {
    current,
    /* the places an answered question named: they replace the automatic chips */
    showScope(places) {
      state.auto = [...new Set((places || []).map(String).filter(Boolean))];
      render();
    },
    /* drop every hand chip: the next question searches every report */
    clearHand,
    reset() {
      state.auto = [];
      clearHand();
    },
  };
  render();
  loadFacets();
  // app.js: another knowledge base has other places and formats
  document.addEventListener("zhiwen:kb-changed", () => {
    window.zhiwenFilters.reset();
    loadFacets();
  });
})();
