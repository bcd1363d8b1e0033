// DOM helpers. Every piece of text goes in with textContent (via text
// nodes): nothing here parses HTML, so data shows as text.

// h builds an element: h("a", {href: "/admin/"}, "text", child, ...).
// Attributes: "class", "for", "on<event>" (a listener), boolean values
// (set or left out), everything else via setAttribute. Children: strings
// and numbers become text nodes; null, undefined and false are skipped;
// arrays are flattened.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else if (k === "class") {
      el.className = v;
    } else if (k === "value" && (tag === "input" || tag === "textarea" || tag === "select")) {
      el.value = v;
    } else if (v === true) {
      el.setAttribute(k, "");
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

// append adds children (see h) to el and returns el.
export function append(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// clear removes every child of el and returns el.
export function clear(el) {
  el.replaceChildren();
  return el;
}

let idSeq = 0;

// uid returns a new unique element id.
export function uid(prefix) {
  idSeq += 1;
  return `${prefix || "id"}-${idSeq}`;
}

// add appends children (see h: null, false and undefined are skipped)
// to el and returns el.
export function add(el, ...children) {
  return append(el, children);
}

// fill replaces el's children (see h) and returns el.
export function fill(el, ...children) {
  return append(clear(el), children);
}

// SVG_NS is the SVG namespace (a name, not something loaded).
export const SVG_NS = "http://www.w3.org/2000/svg";

// s builds an SVG element like h builds an HTML one: s("rect", {x: 1,
// class: "bar"}, s("title", {}, "text")). Attributes go in with
// setAttribute (presentation attributes such as x, y, width and height;
// never style); "class" sets the class attribute; children as with h.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}
