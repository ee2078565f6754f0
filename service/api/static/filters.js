/* 知问 chat page: filter chips. Which reports a question may be answered from: places (街道,
   社区, 区), a date range and formats, from GET /v1/facets. A question that names a known 街道 or
   社区 adds its chip by itself (marked 自动); a chip the user removes stays removed until 新对话.
   Chips stay for follow-up questions. app.js asks `zhiwenFilters.forQuestion(question)` for the
   `filters` of each request. Text only: no HTML is ever written. */
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
  const AUTO_LEVELS = ["街道", "社区"];
  const state = { places: [], chips: [], dismissed: new Set() };

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

  function render() {
    bar.replaceChildren();
    for (const chip of state.chips) {
      const node = el("span", "filter-chip" + (chip.auto ? " auto" : ""));
      node.dataset.kind = chip.kind;
      node.dataset.value = chip.value;
      node.appendChild(el("span", "filter-label", label(chip)));
      if (chip.auto) node.appendChild(el("span", "filter-auto", "自动"));
      const remove = el("button", "filter-remove", "×");
      remove.type = "button";
      remove.setAttribute("aria-label", "移除筛选：" + label(chip));
      remove.addEventListener("click", () => removeChip(chip));
      node.appendChild(remove);
      bar.appendChild(node);
    }
    bar.hidden = state.chips.length === 0;
  }

  function has(kind, value) {
    return state.chips.some((c) => c.kind === kind && c.value === value);
  }

  function addChip(kind, value, auto) {
    if (!value) return;
    if (kind === "date_from" || kind === "date_to") state.chips = state.chips.filter((c) => c.kind !== kind);
    if (!has(kind, value)) state.chips.push({ kind, value, auto: Boolean(auto) });
    render();
  }

  function removeChip(chip) {
    state.chips = state.chips.filter((c) => c !== chip);
    if (chip.kind === "place") state.dismissed.add(chip.value);
    render();
  }

  function stem(name) {
    for (const suffix of AUTO_LEVELS) if (name.endsWith(suffix)) return name.slice(0, -suffix.length);
    return name;
  }

  function namedPlaces(question) {
    return state.places.filter((name) => {
      if (!AUTO_LEVELS.some((s) => name.endsWith(s))) return false;
      const short = stem(name);
      return question.includes(name) || (short.length >= 2 && question.includes(short));
    });
  }

  function current() {
    const filters = {};
    const places = state.chips.filter((c) => c.kind === "place").map((c) => c.value);
    const formats = state.chips.filter((c) => c.kind === "format").map((c) => c.value);
    if (places.length) filters.places = places;
    if (formats.length) filters.formats = formats;
    for (const kind of ["date_from", "date_to"]) {
      const chip = state.chips.find((c) => c.kind === kind);
      if (chip) filters[kind] = chip.value;
    }
    return Object.keys(filters).length ? filters : null;
  }

  async function loadFacets() {
    try {
      const response = await window.zhiwenFetch("/v1/facets");
      if (!response.ok) return;
      const facets = await response.json();
      state.places = (facets.places || []).map((f) => String(f.name));
      placeSelect.replaceChildren(el("option", null, "地点…"));
      placeSelect.options[0].value = "";
      for (const name of state.places) {
        const option = el("option", null, name);
        option.value = name;
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
    addChip("place", placeSelect.value, false);
    state.dismissed.delete(placeSelect.value);
    placeSelect.value = "";
  });
  formatSelect.addEventListener("change", () => {
    addChip("format", formatSelect.value, false);
    formatSelect.value = "";
  });
  dateFrom.addEventListener("change", () => addChip("date_from", dateFrom.value, false));
  dateTo.addEventListener("change", () => addChip("date_to", dateTo.value, false));

  window.zhiwenFilters = {
    /* the filters for this question: the chips, plus a chip for each place it names */
    forQuestion(question) {
      for (const name of namedPlaces(question)) {
        if (!state.dismissed.has(name) && !has("place", name)) state.chips.push({ kind: "place", value: name, auto: true });
      }
      render();
      return current();
    },
    current,
    reset() {
      state.chips = [];
      state.dismissed.clear();
      dateFrom.value = "";
      dateTo.value = "";
      render();
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
