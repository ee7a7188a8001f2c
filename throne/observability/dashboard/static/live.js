// throne dashboard: refreshes a page from the status API's JSON, without reloading it.
//
// The server renders the page and marks each value with where it comes from: the nearest
// [data-src] names the JSON route, [data-path] the value's path in it ("a.b.0.c"), and
// [data-format] how it is written (the same rules as formats.py). A [data-list] body is
// rebuilt from its <template> for each entry of the list (or object) at its path; a
// [data-show] / [data-hide] element is shown while its value is (not) truthy. The root's
// data-live says every how many seconds to look again.
"use strict";
(function () {
  const MISSING = "\u2014";

  function get(data, path) {
    if (!path) return data;
    for (const step of path.split(".")) {
      if (data === null || data === undefined || typeof data !== "object") return null;
      data = Object.prototype.hasOwnProperty.call(data, step) ? data[step] : null;
    }
    return data === undefined ? null : data;
  }

  function fixed(x, places) {
    if (x === 0) x = 0; // no "-0.0"
    return x.toFixed(places);
  }

  function show(value, fmt) {
    if (value === null || value === undefined) return MISSING;
    if (typeof value === "boolean") return value ? "yes" : "no";
    switch (fmt) {
      case "int": return String(Math.trunc(value));
      case "pct": return fixed(value * 100, 1) + "%";
      case "weight": return fixed(value, 4);
      case "stat": return fixed(value, 2);
      case "score": return fixed(value, 3);
      case "ms": return Math.trunc(value) + " ms";
      case "json": return JSON.stringify(value);
    }
    const text = typeof value === "string" ? value : String(value);
    if (fmt === "short" && text.length > 12) return text.slice(0, 12) + "\u2026";
    return text;
  }

  function truthy(v) {
    if (v === null || v === undefined || v === false || v === "") return false;
    if (Array.isArray(v)) return v.length > 0;
    if (typeof v === "object") return Object.keys(v).length > 0;
    return true;
  }

  function entries(v) {
    if (Array.isArray(v)) return v.map((item, i) => [String(i), item]);
    if (v !== null && typeof v === "object") return Object.entries(v);
    return [];
  }

  function join(base, path) { return (base + path).replace(/\.+$/, ""); }

  function baseOf(el) {
    const row = el.closest("[data-base]");
    return row ? row.dataset.base : "";
  }

  function keyOf(el) {
    const row = el.closest("[data-item]");
    return row ? row.dataset.item : "";
  }

  function href(template, data, base, key) {
    return template.replace(/\{([^}]*)\}/g, (_, inner) => {
      const v = inner === "@key" ? key : get(data, join(base, inner));
      return encodeURIComponent(v === null ? "" : String(v));
    });
  }

  function rebuild(body, data) {
    const path = body.dataset.list;
    const template = body.querySelector("template");
    for (const row of Array.from(body.children)) if (row !== template) row.remove();
    const items = entries(get(data, path));
    if (!items.length) {
      const row = document.createElement("tr");
      row.className = "empty";
      const cell = document.createElement("td");
      cell.colSpan = Number(body.dataset.columns || 1);
      cell.textContent = body.dataset.empty || "";
      row.appendChild(cell);
      body.appendChild(row);
      return;
    }
    for (const [key, _] of items) {
      const row = template.content.firstElementChild.cloneNode(true);
      const base = path + "." + key + ".";
      row.dataset.base = base;
      row.dataset.item = key;
      for (const el of row.querySelectorAll("[data-path]")) el.dataset.path = join(base, el.dataset.path);
      for (const el of row.querySelectorAll("[data-key]")) {
        const a = el.querySelector("a");
        (a || el).textContent = key;
      }
      body.appendChild(row);
    }
  }

  function fill(root, data) {
    for (const body of root.querySelectorAll("[data-list]")) rebuild(body, data);
    for (const el of root.querySelectorAll("[data-path]")) {
      const v = get(data, el.dataset.path);
      el.textContent = show(v, el.dataset.format || "text");
      el.dataset.value = JSON.stringify(v);
    }
    for (const el of root.querySelectorAll("[data-href]")) {
      el.setAttribute("href", href(el.dataset.href, data, baseOf(el), keyOf(el)));
    }
    for (const el of root.querySelectorAll("[data-bind-value]")) {
      const base = baseOf(el);
      el.setAttribute("value", String(get(data, join(base, el.dataset.bindValue)) || 0));
      if (el.dataset.bindMax) el.setAttribute("max", String(get(data, join(base, el.dataset.bindMax)) || 1));
    }
    for (const el of root.querySelectorAll("[data-show]")) el.hidden = !truthy(get(data, el.dataset.show));
    for (const el of root.querySelectorAll("[data-hide]")) el.hidden = truthy(get(data, el.dataset.hide));
  }

  function start(root) {
    const every = Math.max(1, Number(root.dataset.live)) * 1000;
    const status = document.getElementById("live-status");
    let last = null;
    async function look() {
      try {
        const answer = await fetch(root.dataset.src, { cache: "no-store", headers: { Accept: "application/json" } });
        if (!answer.ok) throw new Error("HTTP " + answer.status);
        const text = await answer.text();
        if (text !== last) {
          fill(root, JSON.parse(text));
          last = text;
          root.dataset.refreshes = String(Number(root.dataset.refreshes || 0) + 1);
        }
        if (status) status.textContent = "Live: looked at " + new Date().toLocaleTimeString() + ", every " + every / 1000 + " s.";
      } catch (err) {
        if (status) status.textContent = "Could not refresh (" + err.message + "): showing the last values.";
      } finally {
        window.setTimeout(look, every);
      }
    }
    window.setTimeout(look, every);
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const root of document.querySelectorAll("[data-live][data-src]")) start(root);
  });
})();
