/* The validation problems on a map: problems as polygons (or dots when they have only a
 * place), the units they name as outlines, a legend, and popups built with textContent (a
 * name or message holding markup is shown as text). Data: #problems-data (grid.maps.problems). */
(function () {
  'use strict';

function draw(el, data) {
  var words = data.words, kinds = data.kinds;
  var COLOURS = {error: '#c0392b', warning: '#e67e22'};
  var map = L.map(el, {preferCanvas: false, zoomSnap: 0.25});
  var unitLayers = {};

  function text(tag, value, cls) {
    var node = document.createElement(tag);
    node.textContent = value;
    if (cls) { node.className = cls; }
    return node;
  }

  var units = L.geoJSON(data.units, {
    style: {color: '#34495e', weight: 1.5, dashArray: '4 3', fill: true, fillOpacity: 0.05},
    onEachFeature: function (feature, layer) {
      unitLayers[feature.properties.code] = layer;
      layer.bindTooltip(feature.properties.code);
    }
  }).addTo(map);

  function showUnit(code) {
    var layer = unitLayers[code];
    if (!layer) { return false; }
    Object.keys(unitLayers).forEach(function (c) {
      unitLayers[c].setStyle({color: '#34495e', weight: 1.5});
    });
    layer.setStyle({color: '#2980b9', weight: 4});
    map.fitBounds(layer.getBounds(), {maxZoom: 18, padding: [30, 30]});
    return true;
  }

  function popup(props) {
    var box = document.createElement('div');
    box.className = 'problem-popup';
    box.appendChild(text('strong', (kinds[props.kind] || props.kind) + ' · ' +
      (words[props.severity] || props.severity)));
    var dl = document.createElement('dl');
    dl.appendChild(text('dt', words.units));
    var dd = document.createElement('dd');
    props.codes.forEach(function (code, i) {
      if (i) { dd.appendChild(document.createTextNode(' / ')); }
      if (unitLayers[code]) {
        var a = text('a', code, 'unit-link');
        a.href = '#unit-' + encodeURIComponent(code);
        a.title = words.show_unit;
        a.setAttribute('data-code', code);
        a.addEventListener('click', function (ev) { ev.preventDefault(); showUnit(code); });
        dd.appendChild(a);
      } else {
        dd.appendChild(text('span', code));
      }
    });
    dl.appendChild(dd);
    if (props.area_m2 !== null && props.area_m2 !== undefined) {
      dl.appendChild(text('dt', words.area));
      dl.appendChild(text('dd', props.area_m2.toFixed(1) + ' m²'));
    }
    box.appendChild(dl);
    box.appendChild(text('p', props.message, 'problem-message'));
    return box;
  }

  var counts = {};
  var problems = L.geoJSON(data.problems, {
    style: function (feature) {
      var c = COLOURS[feature.properties.severity] || COLOURS.warning;
      return {color: c, weight: 2, fillColor: c, fillOpacity: 0.45};
    },
    pointToLayer: function (feature, latlng) {
      return L.circleMarker(latlng, {radius: 7});
    },
    onEachFeature: function (feature, layer) {
      var p = feature.properties;
      var key = p.kind + '|' + p.severity;
      counts[key] = (counts[key] || 0) + 1;
      layer.bindPopup(function () { return popup(p); }, {maxWidth: 360});
      layer.bindTooltip((kinds[p.kind] || p.kind) + ' ' + p.codes.join(' '));
    }
  }).addTo(map);

  var legend = L.control({position: 'bottomright'});
  legend.onAdd = function () {
    var box = L.DomUtil.create('div', 'problems-legend');
    box.appendChild(text('h4', words.legend));
    Object.keys(counts).sort().forEach(function (key) {
      var parts = key.split('|');
      var row = document.createElement('div');
      var swatch = document.createElement('i');
      swatch.style.borderColor = COLOURS[parts[1]] || COLOURS.warning;
      swatch.style.background = COLOURS[parts[1]] || COLOURS.warning;
      row.appendChild(swatch);
      row.appendChild(text('span', (kinds[parts[0]] || parts[0]) + ' (' +
        (words[parts[1]] || parts[1]) + ') × ' + counts[key]));
      row.className = 'legend-row';
      box.appendChild(row);
    });
    var unitRow = document.createElement('div');
    var unitSwatch = document.createElement('i');
    unitSwatch.style.borderColor = '#34495e';
    unitSwatch.style.borderStyle = 'dashed';
    unitRow.appendChild(unitSwatch);
    unitRow.appendChild(text('span', words.units));
    box.appendChild(unitRow);
    box.appendChild(text('p', data.total ? words.shown.replace('{n}', data.shown)
      .replace('{total}', data.total) : words.none));
    return box;
  };
  legend.addTo(map);

  var bounds = problems.getBounds();
  if (units.getLayers().length) { bounds.extend(units.getBounds()); }
  if (bounds.isValid()) { map.fitBounds(bounds, {padding: [20, 20]}); }
  else { map.setView([39.9, 116.4], 11); }
  if (location.hash.indexOf('#unit-') === 0) {
    showUnit(decodeURIComponent(location.hash.slice(6)));
  }
  window.addEventListener('hashchange', function () {
    if (location.hash.indexOf('#unit-') === 0) {
      showUnit(decodeURIComponent(location.hash.slice(6)));
    }
  });
  el.gridMap = map;
  return map;
}

window.GridProblemsMap = draw;
var holder = document.getElementById('problems-data');
var target = document.getElementById('problems-map');
if (holder && target && window.L) { draw(target, JSON.parse(holder.textContent)); }
})();
