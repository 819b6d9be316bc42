/* The public map's view in its address (#map=ZOOM/LAT/LON&layers=a,b), a "share this
   view" button, and a keyboard path through the map's markers that follows the map:
   rows from north to south, west to east within a row, only what is in view. */
(function () {
  "use strict";

  //: The view is cut into this many rows for the keyboard's path (reading order).
  var ROWS = 4;
  //: Decimals kept of a latitude or longitude in the address: about a metre.
  var DECIMALS = 5;
  //: The map's keyboard stops: markers and clusters, and vector-tile points (role=button).
  var STOPS = ".leaflet-marker-pane [tabindex], .leaflet-tile-pane [role=button][tabindex], " +
              ".leaflet-overlay-pane [role=button][tabindex]";

  var controls = [];  // Leaflet layer controls as made, to find which entry is which layer
  L.Control.Layers.addInitHook(function () { controls.push(this); });

  // --- the view in the address ----------------------------------------------------------

  function hashParams() {
    // The address's fragment as key=value pairs; a plain fragment (#layers-heading, a
    // skip link's target) has none.
    var raw = window.location.hash.replace(/^#/, "");
    return raw.indexOf("=") === -1 ? new URLSearchParams("") : new URLSearchParams(raw);
  }

  function parseView(map, value) {
    // "ZOOM/LAT/LON" as numbers the map can show, else null (junk is ignored, never thrown).
    var parts = (value || "").split("/");
    if (parts.length !== 3 || !parts.every(function (p) { return /^-?\d+(\.\d+)?$/.test(p); })) {
      return null;
    }
    var zoom = Number(parts[0]);
    var lat = Number(parts[1]);
    var lon = Number(parts[2]);
    if (zoom < map.getMinZoom() || zoom > map.getMaxZoom() || Math.abs(lat) > 90 ||
        Math.abs(lon) > 180) {
      return null;
    }
    return { zoom: zoom, center: L.latLng(lat, lon) };
  }

  function parseLayers(overlays, value) {
    // The named layers that exist; null when the list names only unknown ones.
    // An empty list is every layer switched off; a list of nothing known is junk.
    if (value === null) { return null; }
    if (value === "") { return []; }
    var known = value.split(",").filter(function (id) {
      return overlays.some(function (o) { return o.id === id; });
    });
    return known.length ? known : null;
  }

  function applyHash(map, overlays, params) {
    // Show the view and layers the address names; what it does not name stays as it is.
    var view = parseView(map, params.get("map"));
    var shown = parseLayers(overlays, params.get("layers"));
    if (shown) {
      overlays.forEach(function (o) {
        var want = shown.indexOf(o.id) !== -1;
        if (want && !map.hasLayer(o.layer)) { map.addLayer(o.layer); }
        if (!want && map.hasLayer(o.layer)) { map.removeLayer(o.layer); }
      });
    }
    if (view) { map.setView(view.center, view.zoom, { animate: false }); }
    return view !== null;
  }

  function viewHash(map, overlays) {
    // The current view as the address's fragment, keeping any other key the page put there.
    var params = hashParams();
    var c = map.getCenter();
    var zoom = Math.round(map.getZoom() * 100) / 100;
    params.set("map", zoom + "/" + c.lat.toFixed(DECIMALS) + "/" + c.lng.toFixed(DECIMALS));
    params.set("layers", overlays.filter(function (o) { return map.hasLayer(o.layer); })
      .map(function (o) { return o.id; }).join(","));
    // The separators read better unescaped, and are allowed in a fragment as they are.
    return "#" + params.toString().replace(/%2F/gi, "/").replace(/%2C/gi, ",");
  }

  function followView(map, overlays) {
    var writing = false;
    function write() {
      var hash = viewHash(map, overlays);
      if (hash === window.location.hash) { return; }
      writing = true;
      // Replaced, not pushed: panning must not fill the Back button's history.
      window.history.replaceState(window.history.state, "",
        window.location.pathname + window.location.search + hash);
      writing = false;
    }
    map.on("moveend", write);
    map.on("layeradd layerremove", function (e) {
      if (overlays.some(function (o) { return o.layer === e.layer; })) { write(); }
    });
    // A fragment typed into the address bar (or a link to one) moves the map there.
    window.addEventListener("hashchange", function () {
      if (!writing) { applyHash(map, overlays, hashParams()); }
    });
    return write;
  }

  function overlaysOf(map, cfg) {
    // Each layer the configuration names, by the name its layer-control entry has.
    var found = [];
    controls.forEach(function (control) {
      if (control._map !== map) { return; }
      control._layers.forEach(function (entry) {
        if (!entry.overlay) { return; }
        cfg.layers.forEach(function (named) {
          if (named.name === entry.name) { found.push({ id: named.id, layer: entry.layer }); }
        });
      });
    });
    return found;
  }

  // --- share this view ------------------------------------------------------------------

  function shareBox(cfg) {
    // Made here, not in the page: without the script there is no view to share.
    var box = document.createElement("div");
    box.className = "geoapp-share";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "geoapp-share-button";
    button.textContent = cfg.share;
    var field = document.createElement("p");
    field.className = "geoapp-share-field";
    field.hidden = true;
    var label = document.createElement("label");
    label.textContent = cfg.fieldLabel;
    label.htmlFor = "geoapp-share-url";
    var input = document.createElement("input");
    input.id = "geoapp-share-url";
    input.type = "url";
    input.readOnly = true;
    field.appendChild(label);
    field.appendChild(input);
    // Present (empty) from the start: a live region added with its text is often not read.
    var status = document.createElement("p");
    status.className = "geoapp-share-status";
    status.setAttribute("role", "status");
    box.appendChild(button);
    box.appendChild(status);
    box.appendChild(field);
    return { box: box, button: button, field: field, input: input, status: status };
  }

  function announce(ui, message) {
    ui.status.textContent = "";
    // Emptied first, so the same message twice is announced twice.
    window.setTimeout(function () { ui.status.textContent = message; }, 50);
  }

  function selectField(ui, url, cfg) {
    ui.input.value = url;
    ui.field.hidden = false;
    ui.input.focus();
    ui.input.select();
    announce(ui, cfg.selectIt);
  }

  function share(ui, cfg, write) {
    write();  // the address is current even if the map has not ended a move yet
    var url = window.location.href;
    var phone = window.matchMedia && window.matchMedia("(pointer: coarse)").matches;
    if (phone && navigator.share) {
      navigator.share({ title: document.title, url: url }).then(function () {
        announce(ui, cfg.shared);
      }, function (err) {
        if (!err || err.name !== "AbortError") { copy(ui, cfg, url); }
      });
      return;
    }
    copy(ui, cfg, url);
  }

  function copy(ui, cfg, url) {
    if (!navigator.clipboard || !navigator.clipboard.writeText) {
      selectField(ui, url, cfg);
      return;
    }
    navigator.clipboard.writeText(url).then(function () {
      ui.field.hidden = true;
      announce(ui, cfg.copied);
    }, function () { selectField(ui, url, cfg); });
  }

  function addShare(map, cfg, write) {
    var ui = shareBox(cfg);
    var wrap = map.getContainer().closest(".map-layout") || map.getContainer();
    // Before the skip link and the map, beside the page's other actions.
    var skip = document.querySelector(".skip-map");
    var before = skip && skip.parentNode === wrap.parentNode ? skip : wrap;
    before.parentNode.insertBefore(ui.box, before);
    ui.button.addEventListener("click", function () { share(ui, cfg, write); });
    return ui;
  }

  // --- the keyboard's path through the map ----------------------------------------------

  function stopsOf(map) {
    return Array.prototype.slice.call(map.getContainer().querySelectorAll(STOPS));
  }

  function order(map) {
    // Every stop in view, in reading order; those out of view leave the Tab order.
    var box = map.getContainer().getBoundingClientRect();
    var rowHeight = box.height / ROWS;
    var shown = [];
    stopsOf(map).forEach(function (el) {
      var r = el.getBoundingClientRect();
      var x = r.left + r.width / 2;
      var y = r.top + r.height / 2;
      var drawn = r.width > 0 || r.height > 0;
      var inView = drawn && x >= box.left && x <= box.right && y >= box.top && y <= box.bottom;
      var wanted = inView ? "0" : "-1";
      if (el.getAttribute("tabindex") !== wanted) { el.setAttribute("tabindex", wanted); }
      if (inView) {
        shown.push({ el: el, x: x, y: y,
                     row: Math.min(ROWS - 1, Math.floor((y - box.top) / rowHeight)) });
      }
    });
    shown.sort(function (a, b) { return a.row - b.row || a.x - b.x || a.y - b.y; });
    return shown.map(function (s) { return s.el; });
  }

  function leaveStops(map) {
    // Tab past the last stop (or Shift+Tab before the first): the browser moves on from
    // here as if the map had no stops, and they come back once it has.
    var stops = stopsOf(map);
    stops.forEach(function (el) { el.setAttribute("tabindex", "-1"); });
    window.setTimeout(function () { order(map); }, 0);
  }

  function keyboardPath(map) {
    var box = map.getContainer();
    var tabbing = 0;  // +1 or -1 while a Tab press is moving focus
    var timer = null;
    function refresh() {
      if (timer) { return; }
      // Once per burst: a layer adds its markers one by one.
      timer = window.setTimeout(function () { timer = null; order(map); }, 60);
    }
    function watch(layer) {
      // Tiled points appear tile by tile, and clusters settle after their animation.
      if (layer instanceof L.GridLayer ||
          (L.MarkerClusterGroup && layer instanceof L.MarkerClusterGroup)) {
        layer.on("tileload load animationend", refresh);
      }
    }
    map.on("moveend zoomend layeradd layerremove", refresh);
    map.eachLayer(watch);
    map.on("layeradd", function (e) { watch(e.layer); });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Tab") {
        tabbing = e.shiftKey ? -1 : 1;
        window.setTimeout(function () { tabbing = 0; }, 0);
      }
    }, true);
    box.addEventListener("keydown", function (e) {
      if (e.key !== "Tab" || e.altKey || e.ctrlKey || e.metaKey) { return; }
      var path = order(map);
      var i = path.indexOf(e.target);
      if (i === -1) { return; }
      var next = i + (e.shiftKey ? -1 : 1);
      if (next < 0 || next >= path.length) {
        leaveStops(map);
        return;
      }
      e.preventDefault();
      path[next].focus({ preventScroll: true });
    });
    box.addEventListener("focusin", function (e) {
      // Tab from the controls (or Shift+Tab from after the map) lands on whichever stop
      // comes first in the page: go to the first (or last) of the path instead.
      if (!tabbing) { return; }
      var path = order(map);
      if (path.indexOf(e.target) === -1 || path.indexOf(e.relatedTarget) !== -1) { return; }
      var to = tabbing > 0 ? path[0] : path[path.length - 1];
      if (to !== e.target) { to.focus({ preventScroll: true }); }
    });
    order(map);
  }

  function clusterFocus(map, overlays) {
    // Enter on a cluster zooms in (or spreads its markers out); focus then goes to the
    // first of its markers on the path, not back to the map's container.
    overlays.forEach(function (o) {
      if (!(L.MarkerClusterGroup && o.layer instanceof L.MarkerClusterGroup)) { return; }
      var group = o.layer;
      var pending = null;
      function land() {
        if (!pending) { return; }
        var children = pending;
        pending = null;
        var targets = children.map(function (m) {
          var shown = group.getVisibleParent(m);
          return shown && shown.getElement ? shown.getElement() : null;
        });
        var path = order(map);
        var first = path.filter(function (el) { return targets.indexOf(el) !== -1; })[0];
        if (first) { first.focus({ preventScroll: true }); }
      }
      group.on("clusterkeypress", function (e) {
        if (!e.originalEvent || e.originalEvent.keyCode !== 13) { return; }
        pending = e.layer.getAllChildMarkers();
        // Whichever comes: the zoom's end, the spread, or (no animation) a moment.
        window.setTimeout(land, 1500);
      });
      group.on("animationend spiderfied", function () { window.setTimeout(land, 0); });
    });
  }

  function setupView(map, cfg) {
    var overlays = overlaysOf(map, cfg);
    var opened = hashParams();
    var restored = applyHash(map, overlays, opened);
    var write = followView(map, overlays);
    if (restored) {
      // Page scripts that run later (a searched place's marker, /?at=) may move the map
      // (and so rewrite the address): the view the address was opened with wins.
      // After every handler of the page's loading (search's runs on DOMContentLoaded too).
      // A zoom they started still animating would end at its own target: after it, then.
      var again = function () {
        if (map._animatingZoom) { map.once("zoomend", again); return; }
        applyHash(map, overlays, opened);
      };
      document.addEventListener("DOMContentLoaded", function () { window.setTimeout(again, 0); });
    }
    addShare(map, cfg, write);
    keyboardPath(map);
    clusterFocus(map, overlays);
    // The printed map is as wide as the paper: Leaflet sizes itself to it and back.
    window.addEventListener("beforeprint", function () { map.invalidateSize(false); });
    window.addEventListener("afterprint", function () { map.invalidateSize(false); });
  }

  window.geoapp.setupView = setupView;
  //: For tests and page scripts: the path as it is now, and the rows it reads by.
  window.geoappView = { order: function () { return order(window.geoappMap); }, rows: ROWS };
})();
