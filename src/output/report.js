// tlsready report: sort and filter the clients table. Without JavaScript
// the table is static and the controls stay hidden.
(function () {
  'use strict';
  var table = document.getElementById('clients-table');
  var controls = document.getElementById('controls');
  if (!table || !controls || !table.tBodies.length) { return; }
  document.documentElement.className += ' js';
  var body = table.tBodies[0];
  var heads = table.tHead.rows[0].cells;
  var rows = Array.prototype.slice.call(body.rows);
  var text = rows.map(function (r) { return r.textContent.toLowerCase(); });
  rows.forEach(function (r, i) { r.dataset.order = i; });
  var q = document.getElementById('f-text');
  var verdict = document.getElementById('f-verdict');
  var service = document.getElementById('f-service');
  var shown = document.getElementById('f-shown');
  var RANK = { 'will-break': 0, 'at-risk': 1, 'ready': 2,
    'SSL2': 1, 'SSL3': 2, 'TLS1.0': 3, 'TLS1.1': 4, 'TLS1.2': 5, 'TLS1.3': 7 };

  function key(row, col, type) {
    var s = row.cells[col] ? row.cells[col].textContent : '';
    if (type === 'num') { return s === '' ? -1 : Number(s); }
    if (type === 'rank') {
      if (s === '') { return -1; }
      if (s in RANK) { return RANK[s]; }
      return s.indexOf('TLS1.3-draft') === 0 ? 6 : 0;
    }
    return s.toLowerCase();
  }

  // dir: 1 ascending, -1 descending; by default the other way from now.
  function sortBy(col, dir) {
    var th = heads[col];
    if (!dir) { dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1; }
    Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
    var type = th.dataset.type || 'text';
    var keyed = rows.map(function (r) { return [key(r, col, type), Number(r.dataset.order), r]; });
    keyed.sort(function (a, b) {
      if (a[0] < b[0]) { return -dir; }
      if (a[0] > b[0]) { return dir; }
      return a[1] - b[1];
    });
    var frag = document.createDocumentFragment();
    keyed.forEach(function (k) { frag.appendChild(k[2]); });
    body.appendChild(frag);
    sorted = [th.textContent, dir === 1 ? 'asc' : 'desc'];
    saveView();
  }

  function filter() {
    var t = q.value.trim().toLowerCase();
    var v = verdict.value;
    var s = service.value;
    var n = 0;
    rows.forEach(function (r, i) {
      // (`-`: rows without a service.)
      var ok = (!v || r.dataset.verdict === v) &&
        (!s || r.dataset.service === (s === '-' ? '' : s)) &&
        (!t || text[i].indexOf(t) !== -1);
      r.hidden = !ok;
      if (ok) { n += 1; }
    });
    shown.textContent = n + ' of ' + rows.length + ' rows shown';
    saveView();
  }

  // The view goes into the address (a link to share; a live page that
  // reloads itself keeps it).
  var sorted = null;
  function saveView() {
    var p = [];
    if (q.value) { p.push('q=' + encodeURIComponent(q.value)); }
    if (verdict.value) { p.push('verdict=' + encodeURIComponent(verdict.value)); }
    if (service.value) { p.push('service=' + encodeURIComponent(service.value)); }
    if (sorted) { p.push('sort=' + encodeURIComponent(sorted[0]), 'order=' + sorted[1]); }
    if (!p.length && location.hash.indexOf('=') === -1) { return; }
    try { history.replaceState(null, '', '#' + p.join('&')); } catch (e) { /* file: URLs may refuse */ }
  }

  // A link may carry the view: #verdict=at-risk&service=Exchange&q=10.1.&sort=connections&order=desc
  function fromHash() {
    var h = location.hash.replace(/^#/, '');
    if (h.indexOf('=') === -1) { return false; }
    var p = {};
    h.split('&').forEach(function (kv) {
      var i = kv.indexOf('=');
      if (i > 0) {
        try { p[kv.slice(0, i)] = decodeURIComponent(kv.slice(i + 1).replace(/\+/g, ' ')); } catch (e) { /* ignore */ }
      }
    });
    q.value = p.q || '';
    verdict.value = p.verdict || '';
    service.value = p.service || '';
    if (p.sort) {
      Array.prototype.forEach.call(heads, function (th, col) {
        if (th.textContent === p.sort) { sortBy(col, p.order === 'desc' ? -1 : 1); }
      });
    }
    filter();
    return true;
  }

  Array.prototype.forEach.call(heads, function (th, col) {
    var b = document.createElement('button');
    b.type = 'button';
    b.title = 'Sort by ' + th.textContent;
    while (th.firstChild) { b.appendChild(th.firstChild); }
    th.appendChild(b);
    b.addEventListener('click', function () { sortBy(col, 0); });
  });
  q.addEventListener('input', filter);
  verdict.addEventListener('change', filter);
  service.addEventListener('change', filter);
  Array.prototype.forEach.call(document.querySelectorAll('a[data-verdict]'), function (a) {
    a.addEventListener('click', function (e) {
      e.preventDefault();
      verdict.value = a.dataset.verdict;
      service.value = '';
      q.value = '';
      filter();
      document.getElementById('clients').scrollIntoView();
    });
  });
  window.addEventListener('hashchange', fromHash);
  controls.hidden = false;
  if (!fromHash()) { filter(); }
}());
