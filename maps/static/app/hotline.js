/* The hotline queue page (see maps/hotline.py): the same API calls any client makes. Every
 * value from the server goes into the page through textContent, never as HTML. */
(function () {
  'use strict';
  var C = JSON.parse(document.getElementById('hotline-config').textContent), T = C.text;

  // The workbench's API call: the session cookie and its CSRF token (workbench.js).
  function api(path, options) {
    options = options || {};
    if (options.body !== undefined) { options.json = JSON.parse(options.body); delete options.body; }
    return window.GridApp.api(C.api + path, options);
  }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }

  function status(msg, error) {
    var s = document.getElementById('status');
    s.textContent = msg;
    s.className = error ? 'error' : '';
  }

  function resolve(id, code, keep) {
    return api('/queue/' + id + '/resolve', {method: 'POST',
      body: JSON.stringify({building_code: code, keep_alias: !!keep})})
      .then(function () { status(T.done); refresh(); })
      .catch(function (e) { status(e.message, true); });
  }

  function card(row) {
    var li = el('li');
    li.dataset.id = row.id;
    li.appendChild(el('div', row.address, 'addr'));
    if (row.ref) { li.appendChild(el('small', row.ref)); }
    if (row.why) { li.appendChild(el('small', row.why, 'why')); }
    var keepLabel = el('label', null, 'keep');
    var keep = el('input');
    keep.type = 'checkbox';
    keep.className = 'keep-alias';
    keepLabel.appendChild(keep);
    keepLabel.appendChild(el('span', T.keep));
    row.candidates.forEach(function (c) {
      var line = el('div');
      line.appendChild(el('span', c.name + ' (' + c.score.toFixed(2) + ')'));
      line.appendChild(el('small', c.reason, 'why'));
      var pick = el('button', T.choose, 'choose');
      pick.type = 'button';
      pick.dataset.code = c.code;
      pick.addEventListener('click', function () { resolve(row.id, c.code, keep.checked); });
      line.appendChild(pick);
      li.appendChild(line);
    });
    var code = el('input');
    code.placeholder = T.code;
    code.maxLength = 32;
    code.className = 'code';
    li.appendChild(code);
    var use = el('button', T.use_code, 'use-code');
    use.type = 'button';
    use.addEventListener('click', function () {
      if (code.value.trim()) { resolve(row.id, code.value.trim(), keep.checked); }
    });
    li.appendChild(use);
    li.appendChild(keepLabel);
    var reject = el('button', T.reject, 'reject');
    reject.type = 'button';
    reject.addEventListener('click', function () { resolve(row.id, null, false); });
    li.appendChild(reject);
    return li;
  }

  function aliasCard(a) {
    var li = el('li');
    li.dataset.id = a.id;
    li.appendChild(el('div', a.example || a.key, 'addr'));
    li.appendChild(el('small', a.building_code + ' · ' + T.by + ' ' + a.created_by));
    var revoke = el('button', T.revoke, 'revoke');
    revoke.type = 'button';
    revoke.addEventListener('click', function () {
      api('/aliases/' + a.id, {method: 'DELETE'})
        .then(function () { status(T.done); refresh(); })
        .catch(function (e) { status(e.message, true); });
    });
    li.appendChild(revoke);
    return li;
  }

  function fill(id, rows, make, empty) {
    var list = document.getElementById(id);
    list.replaceChildren();
    if (!rows.length) { list.appendChild(el('li', empty, 'empty')); }
    rows.forEach(function (r) { list.appendChild(make(r)); });
  }

  function refresh() {
    api('/queue').then(function (rows) {
      document.getElementById('count').textContent = '(' + rows.length + ')';
      fill('queue', rows, card, T.empty);
    }).catch(function (e) { status(e.message, true); });
    api('/aliases').then(function (rows) { fill('aliases', rows, aliasCard, T.no_aliases); })
      .catch(function (e) { status(e.message, true); });
  }

  document.getElementById('new').addEventListener('submit', function (event) {
    event.preventDefault();
    var address = document.getElementById('address').value.trim();
    if (!address) { return; }
    api('/addresses', {method: 'POST', body: JSON.stringify(
      {address: address, ref: document.getElementById('ref').value.trim()})})
      .then(function (row) {
        status(row.status === 'placed' ? T.placed + ' ' + row.building_code : T.queued);
        document.body.dataset.lastStatus = row.status;
        refresh();
      })
      .catch(function (e) { status(e.message, true); });
  });
  refresh();
}());
