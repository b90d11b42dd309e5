//! The page's style and script, inline: the report is one file that a browser opens with no
//! network (the page's Content-Security-Policy allows nothing else to load).

/// The `Content-Security-Policy` of the page: inline style and script, nothing from anywhere.
pub(super) const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";

pub(super) const STYLE: &str = r#"
:root { --fg: #1d1f21; --muted: #5f6368; --line: #d0d7de; --err: #b42318; --warn: #9a6700;
  --mark: #fff2a8; --primary: #ffe3e0; --note: #eef4ff; --add: #e6ffec; --del: #ffebe9; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
  margin: 0 auto; padding: 1em 2em 4em; max-width: 1300px; }
h1 { font-size: 1.6em; margin: .2em 0 .6em; }
h2 { font-size: 1.2em; margin: 0 0 .4em; }
code, pre, .code td, table.index td.file { font-family: ui-monospace, "DejaVu Sans Mono",
  Menlo, Consolas, monospace; font-size: 13px; }
a { color: #0550ae; text-decoration: none; }
a:hover { text-decoration: underline; }
table.meta td { padding: 1px 1.2em 1px 0; vertical-align: top; }
table.meta td:first-child { color: var(--muted); }
table.counts, table.index { border-collapse: collapse; margin: .6em 0 1.4em; }
table.counts td, table.counts th, table.index td, table.index th {
  border-bottom: 1px solid var(--line); padding: 3px 10px; text-align: left; vertical-align: top; }
table.counts td.n { text-align: right; font-variant-numeric: tabular-nums; }
table.index { width: 100%; }
table.index th { background: #f6f8fa; position: sticky; top: 0; white-space: nowrap; }
table.index th.sort { cursor: pointer; user-select: none; }
table.index th.sort::after { content: " \2195"; color: #aaa; }
table.index th[data-dir="asc"]::after { content: " \25B2"; color: var(--fg); }
table.index th[data-dir="desc"]::after { content: " \25BC"; color: var(--fg); }
table.index tr:hover td { background: #f6f8fa; }
table.index td:not(.msg) { width: 1%; white-space: nowrap; }
table.index td.msg { min-width: 16em; overflow-wrap: anywhere; }
.rule { display: inline-block; white-space: nowrap; font-weight: 600; padding: 0 6px; border-radius: 4px;
  color: #fff; background: var(--err); font-family: ui-monospace, monospace; }
.rule.warning { background: var(--warn); }
section.finding { border: 1px solid var(--line); border-radius: 6px; padding: .8em 1em;
  margin: 1.4em 0; }
section.finding:target { border-color: #0969da; box-shadow: 0 0 0 2px #0969da33; }
.where { color: var(--muted); margin: 0 0 .4em; }
.msg { margin: .3em 0; }
.help { margin: .3em 0; color: #1a7f37; }
ol.steps { margin: .4em 0 .8em; padding-left: 0; list-style: none; }
ol.steps li { margin: 2px 0; }
.bubble { display: inline-block; min-width: 1.6em; padding: 0 .35em; margin-right: .4em;
  border-radius: .8em; background: #0969da; color: #fff; font-size: 12px; font-weight: 600;
  text-align: center; }
.bubble.chain { background: #8250df; }
.bubble.primary { background: var(--err); }
.file { font-family: ui-monospace, monospace; font-weight: 600; margin: .8em 0 .2em; }
table.code { border-collapse: collapse; width: 100%; background: #fbfbfb;
  border: 1px solid var(--line); }
table.code td { padding: 0 8px; white-space: pre; tab-size: 8; -moz-tab-size: 8; }
table.code td.ln { color: #8c959f; text-align: right; width: 1%; user-select: none;
  border-right: 1px solid var(--line); }
table.code tr.primary td.src { background: var(--primary); }
table.code tr.gap td { color: #8c959f; background: #f0f0f0; }
table.code tr.note td.src { white-space: normal; font-family: system-ui, sans-serif;
  background: var(--note); padding: 2px 8px 2px 2em; }
mark { background: var(--mark); border-bottom: 2px solid #d4a72c; padding: 0; }
tr.primary mark { background: #ffc9c2; border-bottom-color: var(--err); }
details.fix { margin-top: .8em; }
details.fix summary, details.rule summary { cursor: pointer; font-weight: 600; }
pre.diff { border: 1px solid var(--line); padding: 6px 0; overflow-x: auto; tab-size: 8; }
pre.diff span { display: block; padding: 0 8px; }
pre.diff .add { background: var(--add); }
pre.diff .del { background: var(--del); }
pre.diff .hunk { color: #8250df; background: #f6f0ff; }
pre.diff .head { font-weight: 600; }
.ctl { color: #fff; background: var(--err); border-radius: 3px; padding: 0 2px; }
.none { color: var(--muted); font-style: italic; }
"#;

/// Sorting the index by a column (click its header; again for the other direction), and
/// `#sort=COLUMN` or `#sort=-COLUMN` in the address for a sorted first view. Ties keep the
/// findings' order. `data-key` holds the cell's sort key when its text is not one.
pub(super) const SCRIPT: &str = r#"
(function () {
  "use strict";
  var table = document.getElementById("index");
  if (!table) { return; }
  var heads = table.tHead.rows[0].cells;
  var body = table.tBodies[0];
  function key(row, col) {
    var cell = row.cells[col];
    return cell.getAttribute("data-key") || cell.textContent;
  }
  function sort(col, dir) {
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, col), y = key(b, col);
      var c = x < y ? -1 : x > y ? 1 : 0;
      if (c === 0) { c = Number(a.getAttribute("data-n")) - Number(b.getAttribute("data-n")); return c; }
      return dir === "desc" ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("data-dir"); }
    heads[col].setAttribute("data-dir", dir);
    table.setAttribute("data-sorted", heads[col].getAttribute("data-col") + " " + dir);
  }
  Array.prototype.forEach.call(heads, function (th, col) {
    if (!th.classList.contains("sort")) { return; }
    th.addEventListener("click", function () {
      sort(col, th.getAttribute("data-dir") === "asc" ? "desc" : "asc");
    });
  });
  var m = /^#sort=(-?)([a-z]+)$/.exec(window.location.hash);
  if (m) {
    Array.prototype.forEach.call(heads, function (th, col) {
      if (th.getAttribute("data-col") === m[2]) { sort(col, m[1] ? "desc" : "asc"); }
    });
  }
})();
"#;
