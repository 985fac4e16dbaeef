/* The console pages' one way to call /console/api: same-origin credentials, the session's CSRF
   token on every POST, back to the login page on 401, the server's error text on any failure. */
(function () {
  "use strict";

  window.consoleApi = function (path, body, csrf) {
    var options = { credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      options.method = "POST";
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRF-Token"] = csrf || "";
      options.body = JSON.stringify(body);
    }
    return window.fetch("/console/api/" + path, options).then(function (response) {
      if (response.status === 401) { window.location.assign("/console/login"); throw new Error("login"); }
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.error || ("HTTP " + response.status));
        return data;
      });
    });
  };
}());
