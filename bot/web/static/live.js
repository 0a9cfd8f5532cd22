/* statusdesk live updates: when the server announces a change (Server-Sent Events), fetch this
   page again and swap in its #content. The page works fully without this script. */
(function () {
  "use strict";
  if (typeof window.EventSource !== "function" || typeof window.fetch !== "function" ||
      typeof window.DOMParser !== "function") {
    return;
  }

  var busy = false;   // a fetch is in flight
  var again = false;  // another change arrived meanwhile, or while the tab was hidden

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    var next = fresh.getElementById("content");
    var current = document.getElementById("content");
    if (!next || !current) {
      return;
    }
    if (next.innerHTML === current.innerHTML) {  // compare only: nothing is assigned
      return;
    }
    while (current.firstChild) {
      current.removeChild(current.firstChild);
    }
    while (next.firstChild) {
      current.appendChild(document.adoptNode(next.firstChild));
    }
    if (fresh.title) {
      document.title = fresh.title;
    }
  }

  function refresh() {
    if (busy || document.hidden) {
      again = true;
      return;
    }
    busy = true;
    again = false;
    fetch(location.pathname + location.search, {
      cache: "no-store",
      credentials: "same-origin",
      headers: { "Accept": "text/html" }
    }).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (html !== null) {
        swap(html);
      }
    }).catch(function () {
      /* offline or the server is restarting: the next event tries again */
    }).then(function () {
      busy = false;
      if (again) {
        refresh();
      }
    });
  }

  var source = new EventSource("/api/events");
  // bot/web/sse.py names its events "change" (one per change) and "reset" (too far behind to
  // replay); named events do not reach "message" listeners, so listen to all three.
  ["message", "change", "reset"].forEach(function (name) {
    source.addEventListener(name, refresh);
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && again) {
      refresh();
    }
  });
  // EventSource reconnects by itself; after a drop, catch up on what was missed meanwhile.
  // window.statusdeskLive says whether live updates are flowing ("connecting", "open",
  // "reconnecting"), for people debugging a page and for the browser tests.
  window.statusdeskLive = "connecting";
  var dropped = false;
  source.addEventListener("error", function () {
    dropped = true;
    window.statusdeskLive = "reconnecting";
  });
  source.addEventListener("open", function () {
    window.statusdeskLive = "open";
    if (dropped) {
      dropped = false;
      refresh();
    }
  });
}());
