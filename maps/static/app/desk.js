/* The street office's desk pages: figures, ranking, trend, 每月一题. Everything comes from
 * /api/v1/desk (GridApp.api: the session cookie and its CSRF token) and is written with
 * textContent; charts by the vendored ECharts. A rate the API gives as null shows "—". */
(function () {
  'use strict';
  var page = JSON.parse(document.getElementById('desk-page').textContent);
  var t = window.GridApp.t, api = window.GridApp.api;
  var base = '/api/v1/desk/streets/' + encodeURIComponent(page.street);
  var charts = [];

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
  function fill(tbody, rows) {
    tbody.textContent = '';
    rows.forEach(function (r) { tbody.appendChild(r); });
  }
  function pct(v) { return v === null || v === undefined ? '—' : (v * 100).toFixed(1) + '%'; }
  function num(v) { return v === null || v === undefined ? '—' : String(v); }
  function fail(err) {
    var box = document.getElementById('fig-error');
    if (box) { box.textContent = t('failed') + ': ' + err.message; box.hidden = false; }
  }
  function say(text) {
    var box = document.getElementById('fig-message');
    if (box) { box.textContent = text; box.hidden = false; }
  }
  function chart(id, option) {
    var node = document.getElementById(id);
    if (!node || !window.echarts) { return null; }
    var c = window.echarts.init(node, null, {renderer: 'svg'});
    c.setOption(option);
    charts.push(c);
    return c;
  }
  window.addEventListener('resize', function () { charts.forEach(function (c) { c.resize(); }); });
  function when(iso) {
    return iso ? new Date(iso).toLocaleString(document.documentElement.lang) : '';
  }
  function incidentLink(id) {
    var a = el('a', '#' + id);
    a.href = '/work/incidents/' + id;
    return a;
  }

  function desk() {
    api(base + '/figures').then(function (f) {
      document.getElementById('fig-open').textContent = f.open;
      document.getElementById('fig-overdue').textContent = f.overdue;
      document.getElementById('fig-this').textContent = f.this_month.received;
      document.getElementById('fig-last').textContent = f.last_month.received;
      fill(document.querySelector('#fig-levels tbody'), Object.keys(f.by_level).map(function (k) {
        return row([t('level_' + k), f.by_level[k]]);
      }));
      fill(document.querySelector('#fig-categories tbody'), f.by_category.map(function (c) {
        return row([c.name, c.count]);
      }));
      fill(document.querySelector('#fig-months tbody'), [f.last_month, f.this_month].map(function (m) {
        return row([m.month, m.received, m.solved]);
      }));
      var cats = f.by_category.slice(0, 10).reverse();
      chart('chart-categories', {
        grid: {left: 90, right: 20, top: 10, bottom: 20},
        xAxis: {type: 'value', minInterval: 1},
        yAxis: {type: 'category', data: cats.map(function (c) { return c.name; })},
        series: [{type: 'bar', data: cats.map(function (c) { return c.count; }),
          itemStyle: {color: '#c0392b'}}]
      });
      document.getElementById('figures').dataset.state = 'ready';
    }).catch(fail);
  }

  function ranking(month) {
    var q = month ? '?month=' + encodeURIComponent(month) : '';
    api(base + '/ranking' + q).then(function (r) {
      var rows = r.units.map(function (u) {
        var tr = row([u.rank, u.name, u.received, pct(u.response), pct(u.resolution),
          pct(u.satisfaction), num(u.score)]);
        tr.dataset.code = u.code;
        if (r.bottom.indexOf(u.code) >= 0) { tr.className = 'bottom'; }
        return tr;
      }).concat(r.unrated.map(function (u) {
        var tr = row(['—', u.name, 0, '—', '—', '—', '—']);
        tr.dataset.code = u.code;
        tr.className = 'unrated';
        tr.title = t('no_data');
        return tr;
      }));
      fill(document.querySelector('#ranking tbody'), rows);
      var names = {};
      r.units.forEach(function (u) { names[u.code] = u.name; });
      fill(document.getElementById('bottom'), r.bottom.length ? r.bottom.map(function (c) {
        return el('li', names[c] || c);
      }) : [el('li', t('none'))]);
      fill(document.getElementById('quiet'), r.quiet.length ? r.quiet.map(function (q) {
        return el('li', q.name);
      }) : [el('li', t('none'))]);
      chart('chart-scores', {
        grid: {left: 110, right: 20, top: 10, bottom: 20},
        xAxis: {type: 'value', max: 100},
        yAxis: {type: 'category', data: r.units.map(function (u) { return u.name; }).reverse()},
        series: [{type: 'bar', data: r.units.map(function (u) { return u.score; }).reverse(),
          itemStyle: {color: '#2c7fb8'}}]
      });
    }).catch(fail);
    api(base + '/trend?months=6' + (month ? '&month=' + encodeURIComponent(month) : ''))
      .then(function (tr) {
        var series = Object.keys(tr.series).map(function (code) {
          return {name: code === page.street ? t('street_total') : (tr.names[code] || code),
            type: 'line', connectNulls: false, lineStyle: code === page.street ? {width: 4} : {},
            data: tr.series[code].map(function (p) { return p.score; })};
        });
        chart('chart-trend', {
          tooltip: {trigger: 'axis'},
          legend: {type: 'scroll', top: 0},
          grid: {left: 40, right: 20, top: 50, bottom: 30},
          xAxis: {type: 'category', data: tr.months},
          yAxis: {type: 'value', max: 100},
          series: series
        });
      }).catch(fail);
  }

  function topicRows(list) {
    var tbody = document.querySelector('#topics tbody');
    document.getElementById('no-topics').hidden = list.length > 0;
    fill(tbody, list.map(function (x) {
      var a = el('a', x.title);
      a.href = '/desk/topics/' + x.id;
      return row([x.month, a, x.lead, x.unresolved, t('state_' + x.state)]);
    }));
  }

  function topicsView() {
    var form = document.getElementById('adopt-form');
    api(base + '/candidates?month=' + encodeURIComponent(page.month)).then(function (list) {
      fill(document.querySelector('#candidates tbody'), list.map(function (c) {
        var cells = [c.name, c.count, (c.growth * 100).toFixed(0) + '%'];
        if (form) {
          var b = el('button', t('adopt'));
          b.type = 'button';
          b.className = 'adopt';
          b.dataset.category = c.category;
          b.addEventListener('click', function () {
            document.getElementById('adopt-category').value = c.category;
            document.getElementById('adopt-category-name').textContent = c.name;
            document.getElementById('adopt-title').value = c.name;
            document.getElementById('adopt-lead').value = c.leader || '';
            form.hidden = false;
            document.getElementById('adopt-lead').focus();
          });
          cells.push(b);
        } else { cells.push(''); }
        return row(cells);
      }));
    }).catch(fail);
    api(base + '/topics').then(topicRows).catch(fail);
    if (form) {
      form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        var data = new FormData(form);
        api(base + '/topics', {method: 'POST', json: {
          month: data.get('month'), category: data.get('category'), title: data.get('title'),
          lead: data.get('lead'), note: data.get('note')}})
          .then(function (topic) {
            form.hidden = true;
            say(t('adopted') + ': ' + topic.title);
            return api(base + '/topics').then(topicRows);
          }).catch(fail);
      });
    }
  }

  function topicView() {
    var url = '/api/v1/desk/topics/' + encodeURIComponent(page.topic);
    function draw(x) {
      var facts = document.getElementById('topic-facts');
      facts.textContent = '';
      [['category', x.category_name], ['month', x.month], ['lead', x.lead],
        ['state', t('state_' + x.state)], ['note', x.note], ['conclusion', x.conclusion]]
        .forEach(function (p) {
          if (!p[1]) { return; }
          facts.appendChild(el('dt', t(p[0])));
          var dd = el('dd', p[1]);
          dd.id = 'topic-' + p[0];
          facts.appendChild(dd);
        });
      var counts = document.getElementById('topic-counts');
      counts.textContent = '';
      var unresolved = (x.counts.open || 0) + (x.counts.whistled || 0);
      var all = Object.keys(x.counts).reduce(function (s, k) { return s + x.counts[k]; }, 0);
      [[t('cases'), all, 'topic-total'], [t('unresolved'), unresolved, 'topic-unresolved']]
        .forEach(function (p) {
          var li = el('li', p[0] + ' ');
          var b = el('b', p[1]);
          b.id = p[2];
          li.appendChild(b);
          counts.appendChild(li);
        });
      fill(document.querySelector('#topic-cases tbody'), x.cases.map(function (c) {
        var tr = row([incidentLink(c.id), t('case_' + c.state), t('level_' + c.level),
          c.grid_name || c.grid_code || '', when(c.created_at)]);
        if (c.overdue) { tr.className = 'overdue'; }
        return tr;
      }));
      chart('chart-topic', {
        tooltip: {trigger: 'axis'},
        legend: {top: 0},
        grid: {left: 40, right: 20, top: 40, bottom: 30},
        xAxis: {type: 'category', data: x.trend.map(function (m) { return m.month; })},
        yAxis: {type: 'value', minInterval: 1},
        series: [
          {name: t('received'), type: 'bar', data: x.trend.map(function (m) { return m.received; })},
          {name: t('solved'), type: 'line', data: x.trend.map(function (m) { return m.solved; })}]
      });
      var form = document.getElementById('close-form');
      if (form) { form.hidden = x.state !== 'active'; }
    }
    api(url).then(draw).catch(fail);
    var form = document.getElementById('close-form');
    if (form) {
      form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        api(url + '/close', {method: 'POST', json: {
          conclusion: document.getElementById('close-conclusion').value}})
          .then(function () { return api(url).then(draw); }).catch(fail);
      });
    }
  }

  if (page.view === 'desk') { desk(); }
  if (page.view === 'ranking') {
    ranking();
    document.getElementById('ranking-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      charts.forEach(function (c) { c.dispose(); });
      charts = [];
      ranking(document.getElementById('ranking-month').value);
    });
  }
  if (page.view === 'topics') { topicsView(); }
  if (page.view === 'topic') { topicView(); }
})();
