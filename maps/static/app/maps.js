/* The street office's incident layer: clustered markers, heat layer, filters and popups, all
 * built in the browser from one JSON payload (see maps/street.py incident_payload).
 * Filters run client-side and are mirrored in the URL (?category=&state=&level=&from=&to=
 * &overdue=1) so a filtered view can be shared as a link. */
(function () {
  'use strict';

  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }
  function pad(n) { return (n < 10 ? '0' : '') + n; }

  // Times are shown, and the period filter counts days, on the street office's clock (the
  // service's work timezone, as on the incident page), whatever the viewing browser's zone.
  var zone = {offsets: {}, format: null};
  function setZone(name) {
    try {
      zone.format = new Intl.DateTimeFormat('en-US', {timeZone: name, hourCycle: 'h23',
        year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric'});
    } catch (e) { zone.format = null; }  // unknown zone: the browser's own
  }
  // Minutes to add to UTC minutes ``m`` for the wall clock (cached per hour: offsets change on
  // the hour, and a page's incidents fall in few distinct hours).
  function offsetAt(m) {
    var h = Math.floor(m / 60);
    if (!(h in zone.offsets)) {
      if (zone.format) {
        var p = {};
        zone.format.formatToParts(new Date(h * 3600000)).forEach(function (x) { p[x.type] = +x.value; });
        zone.offsets[h] = Date.UTC(p.year, p.month - 1, p.day, p.hour % 24, p.minute) / 60000 - h * 60;
      } else {
        zone.offsets[h] = -new Date(h * 3600000).getTimezoneOffset();
      }
    }
    return zone.offsets[h];
  }
  function wall(m) { return m == null ? null : m + offsetAt(m); }
  function time(min) {
    if (min == null) { return '—'; }
    var d = new Date(wall(min) * 60000);
    return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' +
      pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes());
  }
  // A date input's day ('YYYY-MM-DD') as wall-clock minutes: its start, or its end.
  function dayMinutes(value, end) {
    if (!value) { return null; }
    var p = value.split('-');
    return Date.UTC(+p[0], +p[1] - 1, +p[2]) / 60000 + (end ? 1440 : 0);
  }

  // Row layout: [id, lon, lat, category, state, level, created, due, grid, building, steps]
  var ID = 0, LON = 1, LAT = 2, CAT = 3, STATE = 4, LEVEL = 5, CREATED = 6, DUE = 7, GRID = 8,
    BUILDING = 9, STEPS = 10;

  function popupHtml(row, d) {
    var T = d.text, units = d.units;
    var grid = units[row[GRID]] || [row[GRID], '', '', ''];
    var community = units[grid[3]] || ['', '', '', ''];
    var street = units[community[3]] || ['', '', '', ''];
    var chain = [grid[1], community[1], street[1]].filter(Boolean).join(' → ');
    var building = row[BUILDING] ? (units[row[BUILDING]] || [row[BUILDING]])[0] : '';
    var steps = row[STEPS].map(function (s) {
      return '<li>' + esc(time(s[1])) + ' ' + esc(d.actions[s[0]] || s[0]) +
        (s[2] ? ' · ' + esc(s[2]) : '') + '</li>';
    }).join('');
    var late = isOverdue(row, d);
    return '<div class="incident-popup">' +
      '<b>#' + row[ID] + ' ' + esc(d.categories[row[CAT]] || row[CAT]) + '</b>' +
      (late ? ' <span class="badge-overdue">' + esc(T.overdue) + '</span>' : '') + '<br>' +
      esc(T.state) + ': <span class="incident-state">' + esc(d.states[row[STATE]] || row[STATE]) +
      '</span> · ' + esc(T.level) + ': ' + esc(d.levels[row[LEVEL]] || row[LEVEL]) + '<br>' +
      esc(T.owner) + ': ' + esc(grid[0]) +
      (building ? ' · ' + esc(T.building_label) + ' ' + esc(building) : '') + '<br>' +
      esc(T.party_org) + ': <span class="party-branch">' + esc(grid[1]) + '</span><br>' +
      esc(T.chain) + ': <small class="party-chain">' + esc(chain) + '</small><br>' +
      esc(T.grid_worker) + ': ' + esc(grid[2]) + '<br>' +
      esc(T.due) + ': ' + esc(time(row[DUE])) + '<br>' +
      esc(T.steps) + ':<ol>' + steps + '</ol>' +
      '<a class="incident-link" href="' + esc(d.link.replace('{id}', row[ID])) +
      '" target="_top">' + esc(T.details) + '</a></div>';
  }

  function isOverdue(row, d) {
    return row[DUE] != null && row[DUE] < d.now && d.openStates.indexOf(row[STATE]) >= 0;
  }

  function colour(row, d) {
    return row[STATE] === 'open' ? (d.levelColours[row[LEVEL]] || '#2b83ba')
      : (d.stateColours[row[STATE]] || '#636363');
  }

  // Icons are shared by every marker of the same look: 10,000 markers, a dozen icons.
  var icons = {};
  function icon(row, d) {
    var late = isOverdue(row, d);
    var key = row[STATE] + '|' + row[LEVEL] + '|' + late;
    if (!icons[key]) {
      icons[key] = L.divIcon({
        className: 'incident-marker state-' + row[STATE] + ' level-' + row[LEVEL] +
          (late ? ' overdue' : ''),
        html: '<i style="background:' + colour(row, d) + '"></i>',
        iconSize: late ? [20, 20] : [14, 14]
      });
    }
    return icons[key];
  }

  function clusterIcon(cluster) {
    var markers = cluster.getAllChildMarkers(), late = 0;
    for (var i = 0; i < markers.length; i++) { if (markers[i].options.overdue) { late++; } }
    var n = markers.length;
    var size = n < 10 ? 'small' : (n < 100 ? 'medium' : 'large');
    return L.divIcon({
      html: '<div><span>' + n + '</span></div>',
      className: 'marker-cluster marker-cluster-' + size + (late ? ' has-overdue' : ''),
      iconSize: new L.Point(40, 40)
    });
  }

  function select(name, label, options, T) {
    var html = '<label>' + esc(label) + ' <select name="' + name + '"><option value="">' +
      esc(T.all) + '</option>';
    Object.keys(options).forEach(function (k) {
      html += '<option value="' + esc(k) + '">' + esc(options[k]) + '</option>';
    });
    return html + '</select></label>';
  }

  // On a phone the panels fold to their title, so they do not cover the map and its popups;
  // tapping the title opens or folds the panel again.
  var PHONE = window.matchMedia('(max-width: 600px)');
  function foldOnPhone(panel) {
    if (!panel) { return; }
    var title = panel.querySelector('b');
    if (!title) { return; }
    title.classList.add('fold-toggle');
    title.setAttribute('role', 'button');
    title.addEventListener('click', function () { panel.classList.toggle('folded'); });
    if (PHONE.matches) { panel.classList.add('folded'); }
  }

  // Leaflet's own layer list (built after this script, expanded): on a phone folded to its
  // button once the page has loaded; the button opens it, a tap on the map folds it again.
  window.addEventListener('load', function () {
    if (!PHONE.matches) { return; }
    document.querySelectorAll('.leaflet-control-layers').forEach(function (el) {
      el.classList.remove('leaflet-control-layers-expanded');
      var toggle = el.querySelector('.leaflet-control-layers-toggle');
      if (toggle) {
        toggle.addEventListener('click', function (e) {
          e.preventDefault();
          el.classList.add('leaflet-control-layers-expanded');
        });
      }
      var map = el.closest('.leaflet-container');
      if (map) {
        map.addEventListener('click', function (e) {
          if (!el.contains(e.target)) { el.classList.remove('leaflet-control-layers-expanded'); }
        });
      }
    });
  });

  function filterControl(map, d, onChange) {
    var T = d.text;
    var control = L.control({position: 'topright'});
    control.onAdd = function () {
      var div = L.DomUtil.create('div', 'grid-panel grid-filters');
      div.innerHTML = '<b>' + esc(T.filters) + '</b>' +
        select('category', T.category, d.categories, T) +
        select('state', T.state, d.states, T) +
        select('level', T.level, d.levels, T) +
        '<label>' + esc(T.from) + ' <input type="date" name="from"></label>' +
        '<label>' + esc(T.to) + ' <input type="date" name="to"></label>' +
        '<label><input type="checkbox" name="overdue"> ' + esc(T.overdue_only) + '</label>' +
        '<div class="grid-count">' + esc(T.shown) + ' <span class="shown">0</span> / ' +
        d.rows.length + '</div>';
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      var params = new URLSearchParams(window.location.search);
      div.querySelectorAll('select, input').forEach(function (el) {
        var v = params.get(el.name);
        if (v != null) { if (el.type === 'checkbox') { el.checked = v === '1'; } else { el.value = v; } }
        el.addEventListener('change', function () { onChange(read(div), true); });
      });
      control.values = function () { return read(div); };
      control.container = div;
      return div;
    };
    function read(div) {
      var f = {};
      div.querySelectorAll('select, input').forEach(function (el) {
        f[el.name] = el.type === 'checkbox' ? el.checked : el.value;
      });
      return f;
    }
    control.addTo(map);
    return control;
  }

  function matches(row, f, d) {
    if (f.category && row[CAT] !== f.category) { return false; }
    if (f.state && row[STATE] !== f.state) { return false; }
    if (f.level && row[LEVEL] !== f.level) { return false; }
    if (f.overdue && !isOverdue(row, d)) { return false; }
    var from = dayMinutes(f.from, false), to = dayMinutes(f.to, true), at = wall(row[CREATED]);
    if (from != null && at < from) { return false; }
    if (to != null && at >= to) { return false; }
    return true;
  }

  function syncUrl(f) {
    var params = new URLSearchParams(window.location.search);
    Object.keys(f).forEach(function (k) {
      var v = f[k] === true ? '1' : (f[k] === false ? '' : f[k]);
      if (v) { params.set(k, v); } else { params.delete(k); }
    });
    params.delete('token');  // never leave the token in the address bar's history
    window.history.replaceState(null, '', window.location.pathname + '?' + params.toString());
  }

  // Rows arrive as numbers (maps/street.py incident_payload); turn them back into values once.
  function decode(d) {
    var k = d.keys, x0 = d.origin[0], y0 = d.origin[1], now = d.now;
    function at(m) { return m == null ? null : now + m; }
    function val(list, i) { return i < 0 ? '' : list[i]; }
    d.rows.forEach(function (r) {
      r[LON] = x0 + r[LON] / 1e6; r[LAT] = y0 + r[LAT] / 1e6;
      r[CAT] = val(k.categories, r[CAT]); r[STATE] = val(k.states, r[STATE]);
      r[LEVEL] = val(k.levels, r[LEVEL]); r[CREATED] = at(r[CREATED]); r[DUE] = at(r[DUE]);
      r[GRID] = val(k.codes, r[GRID]); r[BUILDING] = val(k.codes, r[BUILDING]);
      r[STEPS].forEach(function (s) { s[0] = val(k.actions, s[0]); s[1] = at(s[1]); });
    });
  }

  function incidents(map, clusterGroup, heatGroup, d) {
    setZone(d.timezone);
    decode(d);
    var markers = d.rows.map(function (row) {
      var m = L.marker([row[LAT], row[LON]], {
        icon: icon(row, d), overdue: isOverdue(row, d),
        title: '#' + row[ID] + ' ' + (d.categories[row[CAT]] || row[CAT])
      });
      m.row = row;
      return m;
    });
    // Not chunked: the map is complete when the page has loaded (and the benchmark's
    // "first complete render" means just that); 10,000 markers cluster in ~0.1 s anyway.
    var cluster = L.markerClusterGroup({
      chunkedLoading: false, iconCreateFunction: clusterIcon, maxClusterRadius: 50,
      spiderfyOnMaxZoom: true, showCoverageOnHover: false
    });
    // One click handler for all markers; a marker gets its popup on its first click.
    cluster.on('click', function (e) {
      var m = e.layer;
      if (!m.getPopup()) { m.bindPopup(popupHtml(m.row, d), {maxWidth: 360}); }
      m.openPopup();
    });
    var heat = L.heatLayer([], {radius: 20, blur: 15, minOpacity: 0.3, maxZoom: 17});
    clusterGroup.addLayer(cluster);
    heatGroup.addLayer(heat);
    var control;
    function apply(f, fromUser) {
      var shown = markers.filter(function (m) { return matches(m.row, f, d); });
      cluster.clearLayers();
      cluster.addLayers(shown);
      heat.setLatLngs(shown.map(function (m) { return m.getLatLng(); }));
      control.container.querySelector('.shown').textContent = shown.length;
      document.body.setAttribute('data-shown', shown.length);
      if (fromUser) { syncUrl(f); }
    }
    control = filterControl(map, d, apply);
    foldOnPhone(control.container);
    foldOnPhone(document.getElementById('legend'));
    apply(control.values(), false);
    window.gridIncidents = {markers: markers, cluster: cluster, heat: heat, apply: apply};
  }

  // Polygons of one level loaded by bounding box while their layer is on (see LazyUnitLayer).
  function lazyUnits(map, group, c) {
    var layer = L.geoJSON(null, {
      style: function () { return c.style; },
      onEachFeature: function (f, l) {
        var p = f.properties;
        l.bindTooltip(esc(p.name));
        l.bindPopup('<b>' + esc(p.name) + '</b><br>' + esc(c.labels.code) + ': ' + esc(p.code) +
          (p.party_org ? '<br>' + esc(c.labels.party_org) + ': ' + esc(p.party_org) : ''));
      }
    });
    group.addLayer(layer);
    var seq = 0;
    function load() {
      if (!map.hasLayer(group) || map.getZoom() < c.minZoom) { layer.clearLayers(); return; }
      var mine = ++seq;
      fetch(c.url + (c.url.indexOf('?') < 0 ? '?' : '&') + 'bbox=' +
        map.getBounds().toBBoxString(), {credentials: 'same-origin'})
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (mine !== seq) { return; }  // a later move already asked again
          layer.clearLayers();
          layer.addData(data);
          document.body.setAttribute('data-lazy-units', data.features.length);
        });
    }
    group.on('add', load);
    map.on('moveend', load);
  }

  window.GridMaps = {incidents: incidents, lazyUnits: lazyUnits};
})();
