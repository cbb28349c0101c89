/* GIS staff pages: versions (activate, roll back), upload a boundary file (the loader's
 * guessed field mapping and encoding offered for editing, the validation report with its
 * map, commit), and the diff of two versions on a map. All through the JSON API. */
(function () {
  'use strict';
  var t = window.GridApp.t, api = window.GridApp.api;

  function el(tag, value, cls) {
    var node = document.createElement(tag);
    if (value !== undefined && value !== null) { node.textContent = value; }
    if (cls) { node.className = cls; }
    return node;
  }
  function row(cells) {
    var tr = document.createElement('tr');
    cells.forEach(function (c) {
      var td = document.createElement('td');
      if (c instanceof Node) { td.appendChild(c); } else { td.textContent = c; }
      tr.appendChild(td);
    });
    return tr;
  }
  function fill(node, rows) {
    node.textContent = '';
    rows.forEach(function (r) { node.appendChild(r); });
  }
  function say(text) {
    var box = document.getElementById('gis-message');
    box.textContent = text; box.hidden = false;
    document.getElementById('gis-error').hidden = true;
  }
  function fail(err) {
    var box = document.getElementById('gis-error');
    box.textContent = err.message; box.hidden = false;
  }
  function rollback() {
    if (!window.confirm(t('confirm_rollback'))) { return; }
    api('/api/v1/gis/versions/rollback', {method: 'POST'}).then(function (r) {
      say(t('rolled_back') + ' ' + r.active);
      if (document.getElementById('versions')) { versions(); }
    }).catch(fail);
  }
  function activate(id) {
    if (!window.confirm(t('confirm_activate'))) { return Promise.resolve(); }
    return api('/api/v1/versions/' + id + '/activate', {method: 'POST'}).then(function (v) {
      say(t('activated') + ' ' + v.id);
      if (document.getElementById('versions')) { versions(); }
    }).catch(fail);
  }

  var active = null;
  function versions() {
    return api('/api/v1/versions').then(function (list) {
      active = null;
      list.forEach(function (v) { if (v.is_active) { active = v.id; } });
      fill(document.querySelector('#versions tbody'), list.slice().reverse().map(function (v) {
        var actions = document.createElement('span');
        if (!v.is_active) {
          var b = el('button', t('activate'));
          b.type = 'button';
          b.className = 'activate';
          b.dataset.version = v.id;
          b.addEventListener('click', function () { activate(v.id); });
          actions.appendChild(b);
          if (active) {
            var a = el('a', t('diff'));
            a.href = '/gis/diff/' + active + '/' + v.id;
            a.className = 'diff';
            actions.appendChild(document.createTextNode(' '));
            actions.appendChild(a);
          }
        }
        var units = Object.keys(v.units || {}).map(function (k) {
          return t('level_' + k) + ' ' + v.units[k];
        }).join(' · ');
        var tr = row([v.id, v.label, v.is_active ? '✔' : '', units, actions]);
        tr.dataset.version = v.id;
        if (v.is_active) { tr.className = 'active'; }
        return tr;
      }));
    }).catch(fail);
  }

  // -- upload ------------------------------------------------------------------------------
  var problemsMap = null;
  function options(select, columns, chosen, blank) {
    select.textContent = '';
    if (blank) { select.appendChild(el('option', '—')).value = ''; }
    columns.forEach(function (c) {
      var o = el('option', c);
      o.value = c;
      if (c === chosen) { o.selected = true; }
      select.appendChild(o);
    });
  }
  function showGuess(guess) {
    if (!guess || !guess.columns) { return; }
    options(document.getElementById('map-code'), guess.columns, guess.code_field, false);
    options(document.getElementById('map-name'), guess.columns, guess.name_field, false);
    options(document.getElementById('map-parent'), guess.columns, guess.parent_field, true);
    document.getElementById('map-encoding').value = guess.encoding || '';
    document.getElementById('mapping-how').textContent = t('guessed') + ': ' +
      guess.fields_how + ' · ' + t('encoding') + ' ' + guess.encoding + ' (' + guess.encoding_how + ')';
    document.getElementById('mapping').hidden = false;
    document.getElementById('upload-submit').textContent = t('recheck');
  }
  var uploadId = null;
  function showReport(body) {
    var r = body.report;
    uploadId = body.upload_id;
    document.getElementById('report').hidden = false;
    var src = document.getElementById('report-source');
    src.textContent = '';
    [['encoding', r.encoding], ['crs', r.crs], ['mapping', r.fields]].forEach(function (p) {
      src.appendChild(el('dt', t(p[0])));
      src.appendChild(el('dd', p[1] || '—'));
    });
    fill(document.getElementById('report-counts'),
      ['rows', 'added', 'changed', 'unchanged', 'removed', 'errors', 'warnings'].map(function (k) {
        var li = el('li', t(k) + ' ');
        var b = el('b', r[k]);
        b.id = 'count-' + k;
        li.appendChild(b);
        return li;
      }));
    fill(document.querySelector('#problems tbody'), r.problems.slice(0, 500).map(function (p) {
      var codes = el('span');
      p.codes.forEach(function (code, i) {
        if (i) { codes.appendChild(document.createTextNode(' ')); }
        var named = r.map.units.features.some(function (f) { return f.properties.code === code; });
        if (!named) { codes.appendChild(el('span', code)); return; }
        var a = el('a', code, 'unit-link');
        a.href = '#unit-' + encodeURIComponent(code);
        a.dataset.code = code;
        codes.appendChild(a);
      });
      var tr = row([(r.map.kinds[p.kind] || p.kind) + ' · ' + t(p.severity === 'error' ? 'errors' : 'warnings'),
        codes, p.message]);
      tr.children[1].className = 'code';
      tr.className = p.severity;
      return tr;
    }));
    document.getElementById('report-blocked').hidden = !r.errors;
    document.getElementById('commit-form').hidden = !uploadId;
    document.getElementById('committed').hidden = true;
    var holder = document.getElementById('problems-map');
    if (problemsMap) { problemsMap.remove(); problemsMap = null; }
    holder.textContent = '';
    holder.hidden = !r.map.shown;
    document.getElementById('problems').hidden = !r.problems.length;
    if (r.map.shown) { problemsMap = window.GridProblemsMap(holder, r.map); }
    showGuess(r.guess);
  }
  function upload(ev) {
    ev.preventDefault();
    var form = document.getElementById('upload-form');
    var data = new FormData();
    data.append('file', document.getElementById('upload-file').files[0]);
    data.append('level', document.getElementById('upload-level').value);
    if (!document.getElementById('mapping').hidden) {
      ['code_field', 'name_field', 'parent_field', 'encoding'].forEach(function (name) {
        var v = form.elements[name].value;
        if (v) { data.append(name, v); }
      });
    }
    document.getElementById('gis-error').hidden = true;
    api('/api/v1/gis/uploads', {method: 'POST', body: data}).then(showReport).catch(function (err) {
      if (err.body && err.body.details && err.body.details.columns) {
        showGuess({columns: err.body.details.columns, encoding: '', fields_how: '—',
          encoding_how: '—'});
      }
      fail(err);
    });
  }
  function commit(ev) {
    ev.preventDefault();
    api('/api/v1/gis/uploads/' + uploadId + '/commit', {method: 'POST',
      json: {label: document.getElementById('commit-label').value || null}}).then(function (body) {
      var v = body.report.version;
      document.getElementById('commit-form').hidden = true;
      document.getElementById('committed-version').textContent = v;
      var link = document.getElementById('diff-link');
      return versions().then(function () {
        link.href = '/gis/diff/' + active + '/' + v;
        document.getElementById('committed').hidden = false;
        say(t('committed') + ' ' + v);
      });
    }).catch(fail);
  }

  // -- diff map ----------------------------------------------------------------------------
  var COLOURS = {added: '#27ae60', removed: '#c0392b', changed: '#f39c12'};
  function diffMap(info) {
    var map = L.map('diff-map', {preferCanvas: false});
    api('/api/v1/gis/versions/' + info.old + '/diff/' + info.new + '/geojson').then(function (fc) {
      fill(document.getElementById('diff-counts'), ['added', 'removed', 'changed'].map(function (k) {
        var li = el('li', t(k) + ' ');
        var b = el('b', fc.counts[k]);
        b.id = 'diff-' + k;
        li.appendChild(b);
        return li;
      }));
      var layer = L.geoJSON(fc, {
        style: function (f) {
          var c = COLOURS[f.properties.change];
          return {color: c, fillColor: c, weight: 2, fillOpacity: 0.35,
            dashArray: f.properties.change === 'removed' ? '5 4' : null};
        },
        onEachFeature: function (f, lyr) {
          var p = f.properties;
          lyr.bindTooltip(p.code + ' ' + p.name + ' · ' + t(p.change) +
            (p.area_changed_pct !== undefined ? ' ' + p.area_changed_pct + '%' : ''));
        }
      }).addTo(map);
      var legend = L.control({position: 'bottomright'});
      legend.onAdd = function () {
        var box = L.DomUtil.create('div', 'problems-legend');
        box.appendChild(el('h4', t('legend')));
        ['added', 'removed', 'changed'].forEach(function (k) {
          var line = el('div', null, 'legend-row');
          var sw = el('i');
          sw.style.borderColor = COLOURS[k]; sw.style.background = COLOURS[k];
          line.appendChild(sw);
          line.appendChild(el('span', t(k) + ' × ' + fc.counts[k]));
          box.appendChild(line);
        });
        return box;
      };
      legend.addTo(map);
      if (fc.features.length) { map.fitBounds(layer.getBounds(), {padding: [20, 20]}); }
      else { map.setView([39.9, 116.4], 12); say(t('no_changes')); }
    }).catch(fail);
    document.getElementById('activate-new').addEventListener('click', function () {
      activate(info.new);
    });
  }

  var diffInfo = document.getElementById('diff-page');
  if (diffInfo) { diffMap(JSON.parse(diffInfo.textContent)); }
  if (document.getElementById('versions')) {
    versions();
    document.getElementById('upload-form').addEventListener('submit', upload);
    document.getElementById('commit-form').addEventListener('submit', commit);
  }
  var rb = document.getElementById('rollback');
  if (rb) { rb.addEventListener('click', rollback); }
})();
