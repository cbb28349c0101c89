/* The people-in-the-loop pages (issue 14): every form with class "api" posts its fields as
 * JSON to its data-path through GridApp.api (session cookie + CSRF token), then reloads the
 * page (or goes to data-next). Field names may be dotted paths ("counts.满意",
 * "votes.0.votes_for"); data-type says int / float / datetime / csv; checkboxes sharing a
 * name make a list; an empty field marked data-optional is left out; a file input is uploaded
 * first (POST /api/v1/incidents/attachments) and its id added to "attachments"; "{name}" in
 * data-path is replaced by that field's value (and the field left out of the body).
 * The round recorder keeps GPS batches in localStorage until the server has them, so a round
 * walked offline is sent when the network returns (a batch sent twice is stored once). */
(function () {
  'use strict';
  var api = window.GridApp.api;

  function put(body, path, value) {
    var keys = path.split('.');
    var here = body;
    for (var i = 0; i < keys.length - 1; i++) {
      var next = /^\d+$/.test(keys[i + 1]) ? [] : {};
      if (here[keys[i]] === undefined) here[keys[i]] = next;
      here = here[keys[i]];
    }
    here[keys[keys.length - 1]] = value;
  }

  function cast(el, raw) {
    var type = el.dataset.type;
    if (type === 'int') return parseInt(raw, 10);
    if (type === 'float') return parseFloat(raw);
    if (type === 'datetime') return new Date(raw).toISOString();
    if (type === 'csv') return raw.split(/[,，\s]+/).filter(Boolean).map(Number);
    return raw;
  }

  function collect(form) {
    var body = {};
    var lists = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === 'file' || el.type === 'submit') return;
      if (el.type === 'checkbox') {
        if (el.dataset.list !== undefined) {
          lists[el.name] = lists[el.name] || [];
          if (el.checked) lists[el.name].push(cast(el, el.value));
        } else {
          put(body, el.name, el.checked);
        }
        return;
      }
      if (el.type === 'radio' && !el.checked) return;
      if (el.value === '' && el.dataset.optional !== undefined) return;
      put(body, el.name, cast(el, el.value));
    });
    Object.keys(lists).forEach(function (name) { put(body, name, lists[name]); });
    return body;
  }

  function upload(form) {
    var files = Array.prototype.filter.call(form.elements, function (el) {
      return el.type === 'file' && el.files && el.files.length;
    });
    return Promise.all(files.map(function (el) {
      var data = new FormData();
      data.append('file', el.files[0]);
      return api('/api/v1/incidents/attachments', {method: 'POST', body: data})
        .then(function (r) { return r.id; });
    }));
  }

  function status(form, text, error) {
    var box = form.querySelector('.status');
    if (!box) return;
    box.textContent = text;
    box.className = 'status notice' + (error ? ' error' : '');
  }

  document.addEventListener('submit', function (event) {
    var form = event.target.closest('form.api');
    if (!form) return;
    event.preventDefault();
    var button = form.querySelector('button[type=submit]');
    if (button) button.disabled = true;
    upload(form).then(function (ids) {
      var body = collect(form);
      if (ids.length) body.attachments = ids;
      // "{name}" in the path takes that field's value (e.g. the incident an order comes from).
      var path = form.dataset.path.replace(/\{(\w+)\}/g, function (_, key) {
        var value = body[key];
        delete body[key];
        return encodeURIComponent(value);
      });
      return api(path, {method: 'POST', json: body});
    }).then(function (answer) {
      status(form, window.GridApp.t('saved'));
      var next = form.dataset.next;
      if (next) {
        window.location.assign(next.replace('{id}', answer && answer.id));
      } else {
        window.location.reload();
      }
    }).catch(function (err) {
      if (button) button.disabled = false;
      status(form, err.message, true);
    });
  });

  // Buttons that open a move's form (one form per move, hidden until asked for).
  document.addEventListener('click', function (event) {
    var opener = event.target.closest('[data-opens]');
    if (!opener) return;
    var target = document.getElementById(opener.dataset.opens);
    if (target) target.hidden = !target.hidden;
  });

  // -- the round recorder --------------------------------------------------------------------
  var recorder = document.getElementById('round-recorder');
  if (!recorder) return;
  var KEY = 'grid-round-batches';
  var watch = null;
  var points = [];
  var current = null;

  function waiting() { return JSON.parse(localStorage.getItem(KEY) || '[]'); }
  function keep(list) {
    localStorage.setItem(KEY, JSON.stringify(list));
    document.getElementById('round-waiting').textContent = String(list.length);
  }
  function flush() {
    var list = waiting();
    if (!list.length) return Promise.resolve();
    var batch = list[0];
    return api('/api/v1/rounds/' + batch.round + '/batches',
      {method: 'POST', json: {seq: batch.seq, points: batch.points, crs: 'wgs84'}})
      .then(function () { keep(waiting().slice(1)); return flush(); })
      .catch(function () { /* offline: kept, sent when the network returns */ });
  }
  function cut() {
    if (!current || !points.length) return;
    var list = waiting();
    list.push({round: current.id, seq: current.seq++, points: points});
    points = [];
    keep(list);
    flush();
  }
  document.getElementById('round-start').addEventListener('click', function () {
    var key = 'r' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    api('/api/v1/rounds', {method: 'POST', json: {grid_code: recorder.dataset.grid,
      client_key: key, started_at: new Date().toISOString()}}).then(function (r) {
      current = {id: r.id, seq: 0};
      document.getElementById('round-id').textContent = '#' + r.id;
      if (navigator.geolocation) {
        watch = navigator.geolocation.watchPosition(function (p) {
          points.push([p.coords.longitude, p.coords.latitude, p.timestamp / 1000]);
          if (points.length >= 20) cut();
        }, function () {}, {enableHighAccuracy: true});
      }
    }).catch(function (err) { document.getElementById('round-id').textContent = err.message; });
  });
  document.getElementById('round-stop').addEventListener('click', function () {
    if (watch !== null && navigator.geolocation) navigator.geolocation.clearWatch(watch);
    watch = null;
    cut();
  });
  window.addEventListener('online', flush);
  keep(waiting());
  flush();
})();
