/* The workbench pages' shared code: calls to the JSON API with the session's CSRF token,
 * and the page's words (grid/api/webtext.py, in the page's one language). */
(function () {
  'use strict';
  var meta = document.querySelector('meta[name="csrf-token"]');
  var words = JSON.parse(document.getElementById('page-words').textContent || '{}');

  function api(path, options) {
    options = options || {};
    var headers = Object.assign({'Accept': 'application/json',
      // The API answers its messages in the page's one language.
      'X-Grid-Lang': document.documentElement.lang === 'en' ? 'en' : 'zh'}, options.headers || {});
    if (options.method && options.method !== 'GET') {
      headers['X-CSRF-Token'] = meta ? meta.content : '';
    }
    if (options.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(options.json);
      delete options.json;
    }
    options.headers = headers;
    options.credentials = 'same-origin';
    return fetch(path, options).then(function (r) {
      return r.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = {message: text}; }
        if (!r.ok) {
          var err = new Error(body && body.message ? body.message : String(r.status));
          err.status = r.status; err.body = body;
          throw err;
        }
        return body;
      });
    });
  }

  window.GridApp = {api: api, words: words,
    t: function (key) { return words[key] || key; }};
})();
