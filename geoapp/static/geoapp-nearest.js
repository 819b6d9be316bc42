/* The map's "nearest shelters" and "hazards here" panel, and the hazard overlays' keys.
   Asks /nearest and /hazards about a point (the phone's location, a tap on the map, or the
   map's centre), lists the answer as headed lists in the panel (a status line announces a
   summary), and draws it on the map. Everything is built with textContent, never innerHTML. */
(function () {
  "use strict";

  var panel = document.getElementById("nearest-panel");
  var map = window.geoappMap;
  if (!panel || !map || !window.geoapp) { return; }
  var cfg = JSON.parse(panel.getAttribute("data-config"));
  var T = cfg.texts;

  var form = document.getElementById("nearest-form");
  var layerSelect = document.getElementById("panel-layer");
  var wifiBox = document.getElementById("panel-wifi");
  var hazardSelect = document.getElementById("panel-hazard");
  var status = document.getElementById("nearest-status");
  var results = document.getElementById("nearest-results");
  var hazardResults = document.getElementById("hazards-results");
  var hazardsButton = document.getElementById("hazards-centre");
  var drawn = L.layerGroup().addTo(map);  // the answer on the map: origin, places, lines
  var asked = 0;  // an answer overtaken by a later question is dropped

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : all;
    });
  }

  function text(tag, value, className) {
    var el = document.createElement(tag);
    el.textContent = value;
    if (className) { el.className = className; }
    return el;
  }

  function safeUrl(value) {
    var url = typeof value === "string" ? value.trim() : "";
    return /^(https?:\/\/[^\s]+|\/(?![\/\\])[^\s]*)$/i.test(url) ? url : null;
  }

  function syncControls() {
    // Wi-Fi is known for the shelters only; hazards are designated for the sites only.
    var shelters = layerSelect.value === "shelters";
    wifiBox.parentNode.hidden = !shelters;
    if (!shelters) { wifiBox.checked = false; }
    hazardSelect.parentNode.hidden = shelters;
    if (shelters) { hazardSelect.value = ""; }
  }

  function chosenText(select) {
    return select.options[select.selectedIndex].textContent;
  }

  function describeWhat() {
    var what = chosenText(layerSelect);
    var mark = hazardSelect.value ? chosenText(hazardSelect)
      : wifiBox.checked ? T["nearest.with_wifi"] : "";
    return mark ? fill(T.marked, { text: what, mark: mark }) : what;
  }

  function ask(url, params) {
    var query = Object.keys(params).map(function (key) {
      return encodeURIComponent(key) + "=" + encodeURIComponent(params[key]);
    }).join("&");
    return fetch(url + "?" + query, { headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) { throw new Error(body.detail || String(response.status)); }
          return body;
        });
      });
  }

  function originMarker(latlng) {
    drawn.addLayer(L.circleMarker(latlng, { radius: 7, color: "#1a1a1a", weight: 3,
                                            fillColor: "#ffffff", fillOpacity: 1,
                                            interactive: false }));
  }

  function nearestFrom(latlng, origin) {
    var mine = ++asked;
    status.textContent = origin === "location" ? T["nearest.from_location"]
                                               : T["nearest.searching"];
    var params = { lat: latlng.lat.toFixed(6), lon: latlng.lng.toFixed(6),
                   layer: layerSelect.value, limit: 5, lang: cfg.lang };
    if (wifiBox.checked) { params.wifi = "true"; }
    if (hazardSelect.value) { params.hazard = hazardSelect.value; }
    var what = describeWhat();
    return ask(cfg.nearestUrl, params).then(function (body) {
      if (mine !== asked) { return; }
      showNearest(body, L.latLng(latlng), origin, what);
    }).catch(function (error) {
      if (mine !== asked) { return; }
      status.textContent = T["nearest.failed"] + " " + error.message;
    });
  }

  function showNearest(body, origin, originKey, what) {
    results.textContent = "";
    hazardResults.textContent = "";  // one answer at a time, about one point
    drawn.clearLayers();
    originMarker(origin);
    var heading = text("h3", fill(T["nearest.list_heading"],
                                  { origin: T["nearest.origin_" + originKey], what: what }));
    heading.id = "nearest-list-heading";
    heading.tabIndex = -1;
    results.appendChild(heading);
    (body.notes || []).forEach(function (note, i) {
      results.appendChild(text("p", note, !body.inside_city && i === 0 ? "notice" : "nearest-note"));
    });
    var places = body.features || [];
    if (!places.length) {
      results.appendChild(text("p", T["nearest.none"]));
      status.textContent = T["nearest.none"];
      return;
    }
    var list = document.createElement("ol");
    list.className = "nearest-list";
    list.setAttribute("aria-labelledby", heading.id);
    var bounds = L.latLngBounds([origin]);
    places.forEach(function (place, i) {
      var p = place.properties;
      var at = L.latLng(place.geometry.coordinates[1], place.geometry.coordinates[0]);
      var where = fill(T["nearest.where"], { distance: p.distance_text, direction: p.direction_label });
      bounds.extend(at);
      drawn.addLayer(L.polyline([origin, at], { color: "#0b5394", weight: 2, dashArray: "6 6",
                                                interactive: false }));
      var number = document.createElement("span");
      number.textContent = String(i + 1);
      drawn.addLayer(L.marker(at, {
        icon: L.divIcon({ html: number, className: "nearest-marker", iconSize: [26, 26],
                          iconAnchor: [13, 13] }),
        interactive: false, keyboard: false }));
      var item = document.createElement("li");
      var title = document.createElement("h4");
      var link = text("a", p.name);
      var href = safeUrl(p.url);
      if (href) { link.href = href; }
      title.appendChild(link);
      item.appendChild(title);
      item.appendChild(text("p", where + (p.address ? " · " + p.address : "")));
      var show = text("button", T["nearest.show_on_map"], "nearest-show");
      show.type = "button";
      show.appendChild(text("span", ": " + p.name, "visually-hidden"));
      show.addEventListener("click", function () {
        map.setView(at, Math.max(map.getZoom(), 16));
        var box = document.createElement("div");
        box.appendChild(text("p", p.name, "nearest-popup-name"));
        box.appendChild(text("p", where));
        L.popup({ autoPanPaddingTopLeft: [10, 10] }).setLatLng(at).setContent(box).openOn(map);
      });
      item.appendChild(show);
      list.appendChild(item);
    });
    results.appendChild(list);
    map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
    var first = places[0].properties;
    status.textContent = fill(T["nearest.found"], {
      n: places.length, name: first.name,
      where: fill(T["nearest.where"], { distance: first.distance_text,
                                        direction: first.direction_label }) });
  }

  function hazardsAt(latlng, origin) {
    var mine = ++asked;
    status.textContent = T["hazards.checking"];
    return ask(cfg.hazardsUrl, { lat: latlng.lat.toFixed(6), lon: latlng.lng.toFixed(6),
                                 lang: cfg.lang })
      .then(function (body) {
        if (mine !== asked) { return; }
        showHazards(body, L.latLng(latlng), origin);
      }).catch(function (error) {
        if (mine !== asked) { return; }
        status.textContent = T["hazards.failed"] + " " + error.message;
      });
  }

  function showHazards(body, origin, originKey) {
    hazardResults.textContent = "";
    results.textContent = "";
    drawn.clearLayers();
    originMarker(origin);
    var heading = text("h3", fill(T["hazards.list_heading"],
                                  { origin: T["nearest.origin_" + originKey] }));
    heading.id = "hazards-list-heading";
    heading.tabIndex = -1;
    hazardResults.appendChild(heading);
    if (!body.inside_city) { hazardResults.appendChild(text("p", T["hazards.outside_city"], "notice")); }
    var list = document.createElement("ul");
    list.className = "hazards-list";
    list.setAttribute("aria-labelledby", heading.id);
    var lines = [];
    (body.layers || []).forEach(function (layer) {
      var found = layer.found.map(function (entry) { return entry.label; })
        .join(cfg.lang === "ja" ? "、" : ", ");
      var line = fill(T["hazards.line"], { title: layer.title,
                                            found: found || T["hazards.nothing_drawn"] });
      lines.push(line);
      var item = document.createElement("li");
      layer.found.forEach(function (entry) {
        var swatch = document.createElement("span");
        swatch.className = "geoapp-swatch";
        swatch.setAttribute("aria-hidden", "true");
        swatch.style.backgroundColor = entry.color;
        item.appendChild(swatch);
      });
      item.appendChild(document.createTextNode(line));
      if (layer.caveat) { item.appendChild(text("p", layer.caveat, "nearest-note")); }
      list.appendChild(item);
    });
    hazardResults.appendChild(list);
    (body.notes || []).forEach(function (note) {
      hazardResults.appendChild(text("p", note, "hazards-note"));
    });
    var credit = document.createElement("p");
    var source = text("a", body.credit_ja + (cfg.lang === "ja" ? "" : " (" + body.credit + ")"));
    var href = safeUrl(body.credit_url);
    if (href) { source.href = href; credit.appendChild(source); }
    else { credit.textContent = source.textContent; }
    hazardResults.appendChild(credit);
    map.setView(origin, Math.max(map.getZoom(), 15));
    status.textContent = lines.join(" / ") + " " + T["hazards.not_safe"];
  }

  // --- where the questions come from --------------------------------------------------

  layerSelect.addEventListener("change", syncControls);
  syncControls();
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    nearestFrom(map.getCenter(), "centre");
  });
  hazardsButton.hidden = false;
  hazardsButton.addEventListener("click", function () { hazardsAt(map.getCenter(), "centre"); });

  map.on("click", function (e) {
    // A tap or click on the map (not on a marker) offers both questions about that point.
    var box = document.createElement("div");
    box.className = "nearest-actions";
    [["nearest.from_here", nearestFrom], ["hazards.here", hazardsAt]].forEach(function (pair) {
      var button = text("button", T[pair[0]]);
      button.type = "button";
      button.addEventListener("click", function () {
        map.closePopup();
        // The popup, and the focus in it, is gone: the answer's heading takes the focus.
        pair[1](e.latlng, "point").then(function () {
          var heading = document.getElementById(
            pair[0] === "hazards.here" ? "hazards-list-heading" : "nearest-list-heading");
          if (heading) { heading.focus(); }
        });
      });
      box.appendChild(button);
    });
    L.popup({ autoPanPaddingTopLeft: [10, 10] }).setLatLng(e.latlng).setContent(box).openOn(map);
  });

  // The locate control: answer from the first position found after each activation, and
  // again only once the phone has moved more than 100 m.
  var located = null;
  map.on("locateactivate", function () { located = null; });
  map.on("locationfound", function (e) {
    if (located && located.distanceTo(e.latlng) < 100) { return; }
    located = e.latlng;
    nearestFrom(e.latlng, "location");
  });

  // --- the hazard overlays' keys, on the map while the overlay is on -------------------

  var shown = {};
  var KeyControl = L.Control.extend({
    options: { position: "bottomleft" },
    onAdd: function () {
      var box = L.DomUtil.create("div", "geoapp-key leaflet-control");
      box.setAttribute("role", "group");
      box.setAttribute("aria-label", T.legend_heading);
      L.DomEvent.disableClickPropagation(box);
      return box;
    }
  });
  var keyControl = new KeyControl();

  function drawKeys() {
    var ids = cfg.overlays.filter(function (o) { return shown[o.id]; });
    if (!ids.length) { keyControl.remove(); return; }
    if (!keyControl._map) { keyControl.addTo(map); }
    var box = keyControl.getContainer();
    box.textContent = "";
    ids.forEach(function (overlay) {
      // The key as the layer list shows it: its title, then its colours with their names.
      var listed = document.getElementById("layer-" + overlay.id);
      var key = listed && listed.querySelector("ul.legend");
      if (!key) { return; }
      box.appendChild(text("p", listed.querySelector("h3").textContent.trim(),
                           "geoapp-key-title"));
      box.appendChild(key.cloneNode(true));
    });
  }

  function overlayFor(name) {
    return cfg.overlays.filter(function (o) { return o.name === name; })[0];
  }
  map.on("overlayadd", function (e) {
    var overlay = overlayFor(e.name);
    if (overlay) { shown[overlay.id] = true; drawKeys(); }
  });
  map.on("overlayremove", function (e) {
    var overlay = overlayFor(e.name);
    if (overlay) { delete shown[overlay.id]; drawKeys(); }
  });

  window.geoapp.nearest = { from: nearestFrom, hazards: hazardsAt };
})();
