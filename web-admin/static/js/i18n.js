// English and Japanese texts. The language comes from sessionStorage (the
// user's choice) or navigator.language, and can be switched at any time.

import { en } from "./lang-en.js";
import { ja } from "./lang-ja.js";

const LANG_KEY = "yubin.lang";
const dicts = { en, ja };

export const languages = [
  { code: "en", name: "English" },
  { code: "ja", name: "日本語" },
];

function initial() {
  try {
    const saved = sessionStorage.getItem(LANG_KEY);
    if (saved && dicts[saved]) return saved;
  } catch {
    // no storage: use the browser's language
  }
  const nav = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  return nav.toLowerCase().startsWith("ja") ? "ja" : "en";
}

let current = initial();
document.documentElement.lang = current;

// lang is the language in use.
export function lang() {
  return current;
}

// setLang switches the language and keeps the choice for the session.
export function setLang(code) {
  if (!dicts[code]) return;
  current = code;
  document.documentElement.lang = code;
  try {
    sessionStorage.setItem(LANG_KEY, code);
  } catch {
    // not kept
  }
}

// has reports whether the catalogue has key.
export function has(key) {
  return dicts[current][key] !== undefined || en[key] !== undefined;
}

// t returns the text for key, with {name} placeholders filled from vars.
export function t(key, vars) {
  let s = dicts[current][key];
  if (s === undefined) s = en[key];
  if (s === undefined) s = key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined ? m : String(vars[k])));
  return s;
}
