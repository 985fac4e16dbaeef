/* Console login: posts JSON with the console's header mark; the session cookie comes back. */
(function () {
  "use strict";
  var form = document.getElementById("login");
  var error = document.getElementById("error");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.textContent = "";
    window.fetch("/console/api/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Requested-With": "fanzha-console" },
      body: JSON.stringify({
        name: document.getElementById("name").value,
        password: document.getElementById("password").value
      })
    }).then(function (response) {
      if (response.ok) { window.location.assign("/console"); return null; }
      return response.json().then(function (data) { error.textContent = data.error || "登录失败"; });
    }).catch(function () { error.textContent = "连不上服务器，请稍后再试"; });
  });
})();
