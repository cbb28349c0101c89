/* The grid worker's report page (see maps/report.py). Geolocation gives WGS 84; a tap gives
 * the map's coordinates (GCJ-02 on an Amap basemap, CGCS2000 otherwise); the point is sent with
 * its crs and the server converts. Every report is kept as a draft (photo included, in
 * IndexedDB) until the server has it, and drafts are sent when the browser is online again. */
(function () {
  'use strict';
  var C = JSON.parse(document.getElementById('report-config').textContent), T = C.text;
  var DRAFTS = 'grid.report.drafts';
  // The session cookie authenticates; a change also carries the session's CSRF token.
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var headers = {'X-CSRF-Token': csrf, 'X-Grid-Lang': C.lang};
  var place = null;  // {lon, lat, crs}: what is sent
  var marker = null;

  // WGS 84 -> GCJ-02 (the published algorithm, as grid/spatial/chinacrs.py), for drawing a
  // geolocated point on an Amap basemap; the point itself is sent as WGS 84.
  function outOfChina(lon, lat) { return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271; }
  function gcj(lon, lat) {
    if (outOfChina(lon, lat)) { return [lon, lat]; }
    var a = 6378245.0, ee = 0.00669342162296594323, x = lon - 105.0, y = lat - 35.0, PI = Math.PI;
    var dLat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    dLat += (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    dLat += (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0;
    dLat += (160.0 * Math.sin(y / 12.0 * PI) + 320 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
    var dLon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    dLon += (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    dLon += (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0;
    dLon += (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
    var rad = lat / 180.0 * PI, magic = Math.sin(rad);
    magic = 1 - ee * magic * magic;
    var sq = Math.sqrt(magic);
    dLat = (dLat * 180.0) / ((a * (1 - ee)) / (magic * sq) * PI);
    dLon = (dLon * 180.0) / (a / sq * Math.cos(rad) * PI);
    return [lon + dLon, lat + dLat];
  }

  // Names come from uploaded boundary files: shown as text, never parsed as HTML.
  function textNode(text) {
    var span = document.createElement('span');
    span.textContent = text == null ? '' : String(text);
    return span;
  }

  var map = L.map('map', {maxZoom: C.maxZoom, zoomControl: true});
  C.tiles.forEach(function (t) {
    L.tileLayer(t.url, {attribution: t.attribution, subdomains: t.subdomains, maxZoom: C.maxZoom,
      maxNativeZoom: 18}).addTo(map);
  });
  var grids = L.geoJSON(C.grids, {
    style: {color: '#2c7fb8', weight: 1.5, fillOpacity: 0.05},
    onEachFeature: function (f, layer) { layer.bindTooltip(textNode(f.properties.name)); }
  }).addTo(map);
  if (grids.getLayers().length) { map.fitBounds(grids.getBounds()); } else { map.setView([39.9, 116.4], 12); }

  // Buildings, drawn once the map is close enough to tell them apart (loaded by bounding box).
  var buildings = L.geoJSON(null, {
    style: {color: '#636363', weight: 0.8, fillOpacity: 0.25, className: 'report-building'},
    onEachFeature: function (f, layer) { layer.bindTooltip(textNode(f.properties.name)); }
  }).addTo(map);
  var seenBuildings = {};
  function loadBuildings() {
    if (map.getZoom() < 15 || !C.buildings.length) { return; }
    var b = map.getBounds(), box = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].join(',');
    C.buildings.forEach(function (url) {
      fetch(url + '?bbox=' + box, {credentials: 'same-origin'}).then(function (r) {
        return r.ok ? r.json() : {features: []};
      }).then(function (fc) {
        fc.features.forEach(function (f) {
          if (seenBuildings[f.properties.code]) { return; }
          seenBuildings[f.properties.code] = true;
          buildings.addData(f);
        });
        document.body.setAttribute('data-buildings', Object.keys(seenBuildings).length);
      }).catch(function () {});  // offline: drawn when the map next moves online
    });
  }
  map.on('moveend', loadBuildings);
  loadBuildings();

  function status(msg, error) {
    var el = document.getElementById('status');
    el.textContent = msg;
    el.className = error ? 'error' : '';
  }

  function api(path, options) {
    options = options || {};
    options.headers = Object.assign({}, headers, options.headers || {});
    return fetch(C.api + path, options);
  }

  function setPlace(p, display) {
    place = p;
    if (marker) { marker.setLatLng(display); } else {
      marker = L.circleMarker(display, {radius: 9, color: '#fff', weight: 2, fillColor: '#c1272d',
        fillOpacity: 1, className: 'report-point'}).addTo(map);
    }
    document.body.setAttribute('data-place', p.lon.toFixed(6) + ',' + p.lat.toFixed(6) + ',' + p.crs);
    showOwner(p);
  }

  function showOwner(p) {
    var box = document.getElementById('owner');
    api('/locate?lon=' + p.lon + '&lat=' + p.lat + '&crs=' + p.crs).then(function (r) {
      return r.json();
    }).then(function (loc) {
      box.hidden = false;
      if (!loc.covered) { box.textContent = T.outside; box.className = 'owner outside'; return; }
      var chain = loc.owners.chain || [], grid = null;
      chain.forEach(function (c) { if (c.level === 'grid') { grid = c; } });
      var workers = (loc.owners.grid_workers || []).map(function (w) { return w.name; }).join('、');
      box.className = 'owner';
      box.innerHTML = '';
      [[T.owner, grid ? grid.name : '', 'owner-grid'],
       [T.branch, grid && grid.party_org ? grid.party_org.name : '', 'owner-branch'],
       [T.worker, workers, 'owner-worker']].forEach(function (row) {
        var div = document.createElement('div');
        div.innerHTML = '<b></b>: <span></span>';
        div.firstChild.textContent = row[0];
        div.lastChild.textContent = row[1];
        div.lastChild.className = row[2];
        box.appendChild(div);
      });
    }).catch(function () { box.hidden = true; });
  }

  map.on('click', function (e) {
    setPlace({lon: e.latlng.lng, lat: e.latlng.lat, crs: C.gcj02 ? 'gcj02' : 'cgcs2000'}, e.latlng);
  });

  document.getElementById('locate').addEventListener('click', function () {
    if (!navigator.geolocation) { status(T.geo_error, true); return; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      var lon = pos.coords.longitude, lat = pos.coords.latitude;
      var shown = C.gcj02 ? gcj(lon, lat) : [lon, lat];
      setPlace({lon: lon, lat: lat, crs: 'wgs84'}, [shown[1], shown[0]]);
      map.setView([shown[1], shown[0]], Math.max(map.getZoom(), 17));
    }, function () { status(T.geo_error, true); }, {enableHighAccuracy: true, timeout: 15000});
  });

  // My reports and where each one stands (GET /api/v1/work/mine).
  function loadMine() {
    api('/work/mine?limit=20').then(function (r) { return r.json(); }).then(function (page) {
      var list = document.getElementById('mine');
      list.innerHTML = '';
      if (!page.items.length) {
        var none = document.createElement('li');
        none.className = 'help'; none.textContent = T.none_yet; list.appendChild(none);
      }
      page.items.forEach(function (inc) {
        var li = document.createElement('li'), a = document.createElement('a');
        a.href = '/work/incidents/' + inc.id;
        a.textContent = '#' + inc.id + ' ' + inc.category_name;
        var state = document.createElement('span');
        state.className = 'badge mine-state';
        state.setAttribute('data-state', inc.state);
        state.textContent = inc.state_name;
        li.appendChild(a); li.appendChild(document.createTextNode(' ')); li.appendChild(state);
        list.appendChild(li);
      });
    }).catch(function () {});
  }
  loadMine();

  api('/categories?lang=' + C.lang).then(function (r) { return r.json(); }).then(function (cats) {
    var select = document.getElementById('category');
    cats.forEach(function (c) {
      var o = document.createElement('option');
      o.value = c.code;
      o.textContent = c.code + ' ' + (c.label || c.name || '');
      select.appendChild(o);
    });
  });

  // Drafts live in IndexedDB, which keeps the photo's bytes (localStorage holds a few MB of
  // text at most). Without IndexedDB (some private modes) they fall back to localStorage,
  // without the photo. Each draft: {key, body, photo: {data: ArrayBuffer, type, name} | null}.
  var Drafts = (function () {
    var STORE = 'drafts', opening = null;
    function open() {
      if (!opening) {
        opening = new Promise(function (resolve, reject) {
          if (!window.indexedDB) { reject(new Error('no IndexedDB')); return; }
          var req = indexedDB.open('grid-report', 1);
          req.onupgradeneeded = function () {
            req.result.createObjectStore(STORE, {keyPath: 'key', autoIncrement: true});
          };
          req.onsuccess = function () { resolve(req.result); };
          req.onerror = function () { reject(req.error); };
        });
      }
      return opening;
    }
    function run(mode, work) {
      return open().then(function (db) {
        return new Promise(function (resolve, reject) {
          var tx = db.transaction(STORE, mode), req = work(tx.objectStore(STORE));
          tx.oncomplete = function () { resolve(req.result); };
          tx.onerror = tx.onabort = function () { reject(tx.error); };
        });
      });
    }
    function local() { try { return JSON.parse(localStorage.getItem(DRAFTS) || '[]'); } catch (e) { return []; } }
    function keep(list) { localStorage.setItem(DRAFTS, JSON.stringify(list)); }
    return {
      all: function () {
        return run('readonly', function (s) { return s.getAll(); }).catch(local);
      },
      put: function (draft) {
        return run('readwrite', function (s) { return s.put(draft); }).catch(function () {
          var list = local().filter(function (d) { return d.key !== draft.key; });
          draft.key = draft.key || Date.now() + Math.random();
          list.push({key: draft.key, once: draft.once, body: draft.body, photo: null});
          keep(list);
        });
      },
      remove: function (key) {
        return run('readwrite', function (s) { return s['delete'](key); }).catch(function () {
          keep(local().filter(function (d) { return d.key !== key; }));
        });
      }
    };
  })();

  function countDrafts() {
    return Drafts.all().then(function (list) {
      document.getElementById('drafts').textContent = list.length ? T.drafts + ' ' + list.length : '';
      document.body.setAttribute('data-drafts', list.length);
      return list;
    });
  }

  // A random key per draft (128 bits, hex), sent as Idempotency-Key: a draft sent again after
  // the page lost the first answer gets the case already filed, not a second one.
  // crypto.getRandomValues works on plain-http intranet pages (randomUUID needs https).
  function newKey() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join('');
  }

  // Resolves to the incident (created, or filed before under the same key); rejects with
  // {offline: true} when the network is down.
  function send(body, once) {
    var headers = {'Content-Type': 'application/json'};
    if (once) { headers['Idempotency-Key'] = once; }
    return api('/incidents', {method: 'POST', headers: headers,
      body: JSON.stringify(body)}).catch(function () { throw {offline: true}; }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) { throw {message: data.message || r.statusText}; }
        return data;
      });
    });
  }

  // The photo goes first (POST /incidents/attachments); the report then names its id.
  function upload(blob, name) {
    var form = new FormData();
    form.append('file', blob, name || 'photo.jpg');
    return api('/incidents/attachments', {method: 'POST', body: form}).catch(function () {
      throw {offline: true};
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) { throw {message: data.message || r.statusText}; }
        return data.id;
      });
    });
  }

  // One draft out: its photo (then the draft remembers the uploaded id, so a drop between the
  // two calls never uploads the photo twice), then the report, then the draft is deleted.
  var busy = {};  // keys of drafts being sent: a flush never sends one twice
  function sendDraft(draft) {
    busy[draft.key] = true;
    function done() { delete busy[draft.key]; }
    var photo = draft.photo;
    var uploaded = !photo ? Promise.resolve() :
      upload(new Blob([photo.data], {type: photo.type}), photo.name).then(function (id) {
        draft.body.attachments = (draft.body.attachments || []).concat([id]);
        draft.photo = null;
        return Drafts.put(draft);
      });
    return uploaded.then(function () { return send(draft.body, draft.once); }).then(function (inc) {
      return Drafts.remove(draft.key).then(function () { done(); return inc; });
    }, function (err) { done(); throw err; });
  }

  var flushing = false;
  function flush() {
    if (flushing) { return Promise.resolve(0); }
    flushing = true;
    var sent = 0;
    function next(list) {
      if (!list.length) { return Promise.resolve(); }
      var draft = list.shift();
      if (busy[draft.key]) { return next(list); }
      return sendDraft(draft).then(function (inc) {
        sent++;
        status(T.sent + ' #' + inc.id + (draft.body.attachments ? ' · ' + T.photo_sent : ''));
        document.body.setAttribute('data-sent', inc.id);
        return next(list);
      }, function (err) {
        if (err.offline) { return; }  // still offline: try again later
        status(err.message, true);  // refused by the server: it will never go through
        return Drafts.remove(draft.key).then(function () { return next(list); });
      });
    }
    return Drafts.all().then(next).then(countDrafts).then(function () {
      flushing = false;
      return sent;
    }, function () { flushing = false; return sent; });
  }

  document.getElementById('report').addEventListener('submit', function (e) {
    e.preventDefault();
    if (!place) { status(T.no_place, true); return; }
    if (!document.getElementById('category').value) { status(T.no_category, true); return; }
    if (!document.getElementById('note').value.trim() && !document.getElementById('photo').files[0]) {
      status(T.empty, true); return;
    }
    var body = {lon: place.lon, lat: place.lat, crs: place.crs, source: 'patrol',
      category: document.getElementById('category').value,
      description: document.getElementById('note').value};
    var file = document.getElementById('photo').files[0];
    var button = document.getElementById('send');
    button.disabled = true;  // one tap, one report
    function clear() {
      document.getElementById('note').value = '';
      document.getElementById('photo').value = '';
      document.getElementById('category').value = '';
    }
    var read = file ? file.arrayBuffer() : Promise.resolve(null);
    read.then(function (data) {
      var draft = {body: body, once: newKey(),
        photo: file ? {data: data, type: file.type, name: file.name} : null};
      // Every report is a draft until the server has it: a dropped network loses nothing.
      return Drafts.put(draft).then(function (key) {
        draft.key = draft.key || key;
        return sendDraft(draft).then(function (inc) {
          clear();
          document.body.setAttribute('data-sent', inc.id);
          status(T.sent + ' #' + inc.id + (file ? ' · ' + T.photo_sent : ''));
          loadMine();
        }, function (err) {
          if (err.offline) {  // kept safe in the draft
            clear();
            status(T.draft + (file ? ' · ' + T.photo_draft : ''), true);
            return;
          }
          status(err.message, true);  // refused: the form stays as it was, to be corrected
          return Drafts.remove(draft.key);
        });
      });
    }).then(countDrafts).then(function () { button.disabled = false; },
                              function () { button.disabled = false; });
  });

  window.addEventListener('online', flush);
  setInterval(flush, 15000);
  flush();
  window.gridReport = {flush: flush, drafts: function () { return Drafts.all(); },
    send: sendDraft};
})();
