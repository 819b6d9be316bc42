/* geoapp's map behaviour: layers fetched from the feature API, accessible markers,
   popups built with textContent (never innerHTML), Japanese/English controls. */
(function () {
  "use strict";

  var layers = {};  // by layer id: lets tests and page scripts reach each layer
  var layerControls = [];  // Leaflet layer controls as made, for finishMap to label

  L.Control.Layers.addInitHook(function () { layerControls.push(this); });

  //: Below this map width the layer list would cover the zoom buttons: it folds away; the
  //: credits fold behind a button and popups open as a sheet along the map's bottom.
  var NARROW_MAP = 600;
  //: The least width and height of anything a finger or pointer can hit (WCAG 2.5.8).
  var TARGET = 24;

  var AccessibleIcon = L.Icon.extend({
    // Leaflet gives keyboard markers role="button"; give each a name screen readers announce.
    createIcon: function (old) {
      var img = L.Icon.prototype.createIcon.call(this, old);
      img.setAttribute("aria-label", this.options.label);
      return img;
    }
  });

  var AccessibleDivIcon = L.DivIcon.extend({
    // A cluster's icon is a focusable role="button" too; by default its name is just "12".
    createIcon: function (old) {
      var div = L.DivIcon.prototype.createIcon.call(this, old);
      div.setAttribute("aria-label", this.options.label);
      div.title = this.options.label;
      var inner = div.firstChild;
      if (inner) { inner.setAttribute("aria-hidden", "true"); }
      return div;
    }
  });

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : all;
    });
  }

  function luminance(hex) {
    var channels = [1, 3, 5].map(function (i) {
      var c = parseInt(hex.substr(i, 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2];
  }

  function inkOn(hex) {
    // White or near-black, whichever contrasts more with the layer's colour.
    var l = luminance(hex);
    return (1.05 / (l + 0.05)) >= ((l + 0.05) / (luminance("#1a1a1a") + 0.05)) ? "#ffffff" : "#1a1a1a";
  }

  function clusterIcon(cfg) {
    // Each layer's groups in its own colour (shelters and evacuation sites both cluster),
    // opaque, with text that keeps 4.5:1 over any base map.
    var ink = inkOn(cfg.color);
    return function (cluster) {
      var n = cluster.getChildCount();
      var size = n < 10 ? "small" : n < 100 ? "medium" : "large";
      var inner = document.createElement("div");
      inner.style.backgroundColor = cfg.color;
      inner.style.color = ink;
      inner.appendChild(text("span", String(n)));
      return new AccessibleDivIcon({
        html: inner,
        className: "marker-cluster marker-cluster-" + size,
        iconSize: new L.Point(40, 40),
        label: fill(cfg.clusterLabel, { label: cfg.markerLabel, n: n })
      });
    };
  }

  function text(tag, value, className) {
    var el = document.createElement(tag);
    el.textContent = value;
    if (className) { el.className = className; }
    return el;
  }

  function pad2(n) { return (n < 10 ? "0" : "") + n; }

  function japanTime(value, cfg) {
    // A time as geoapp.japantime.format_time writes it, in Japan time whatever the
    // browser's zone (Japan keeps no daylight saving: always UTC+9).
    var ms = Date.parse(String(value));
    if (isNaN(ms)) { return String(value); }
    var at = new Date(ms + 9 * 3600 * 1000);
    var y = at.getUTCFullYear(), m = at.getUTCMonth(), d = at.getUTCDate();
    var hm = pad2(at.getUTCHours()) + ":" + pad2(at.getUTCMinutes());
    if (cfg.lang === "ja") { return y + "年" + (m + 1) + "月" + d + "日 " + hm; }
    return d + " " + cfg.months[m] + " " + y + ", " + hm;
  }

  function shownValue(prop, props) {
    // The value in the page's language: the first of prop.keys that has one.
    for (var i = 0; i < prop.keys.length; i += 1) {
      var value = props[prop.keys[i]];
      if (value !== null && value !== undefined && value !== "") { return value; }
    }
    return null;
  }

  function formatValue(prop, value, cfg) {
    // As geoapp.catalog.display.format_value writes it for the feature page.
    if (value === null || value === undefined || value === "") { return ""; }
    if (prop.format === "yesno") { return value ? cfg.yesNo[0] : cfg.yesNo[1]; }
    if (prop.format === "datetime") { return japanTime(value, cfg); }
    if (prop.format === "number" && typeof value === "number") {
      return value.toLocaleString("en-US");
    }
    if (prop.format === "name") {
      var names = prop.names || {};
      return Object.prototype.hasOwnProperty.call(names, String(value))
        ? names[String(value)] : String(value);
    }
    if (prop.format === "near") { return fill(cfg.near, { place: String(value) }); }
    return String(value);
  }

  function safeUrl(value) {
    // Only a same-origin path ("/media/…", not "//host/…") or an http(s) address; never a
    // javascript:, data: or other URL from the data.
    if (typeof value !== "string") { return null; }
    var url = value.trim();
    if (/^https?:\/\/[^\s]+$/i.test(url)) { return url; }
    if (/^\/(?![\/\\])[^\s]*$/.test(url)) { return url; }
    return null;
  }

  function withLang(url, lang) {
    if (lang === "ja" || /[?&]lang=/.test(url)) { return url; }
    return url + (url.indexOf("?") === -1 ? "?" : "&") + "lang=" + encodeURIComponent(lang);
  }

  function titleOf(feature, cfg) {
    // The name in the page's language of the code in cfg.titleBy (a report's category),
    // else the label property's value.
    var props = feature.properties || {};
    var code = cfg.titleBy ? props[cfg.titleBy] : undefined;
    if (code !== undefined && code !== null && cfg.titles &&
        Object.prototype.hasOwnProperty.call(cfg.titles, String(code))) {
      return cfg.titles[String(code)];
    }
    return props[cfg.labelProperty];
  }

  function popupFor(feature, cfg) {
    var box = document.createElement("div");
    box.className = "geoapp-popup";
    var props = feature.properties || {};
    box.appendChild(text("p", cfg.title, "geoapp-popup-layer"));
    if (cfg.labelProperty) {
      box.appendChild(text("h2", String(titleOf(feature, cfg) || ""), "geoapp-popup-title"));
    }
    var image = cfg.imageProperty ? safeUrl(props[cfg.imageProperty]) : null;
    if (image) {
      var img = document.createElement("img");
      img.className = "geoapp-popup-photo";
      // Says whose photo it is ("通報 12 の写真"), not just "photo".
      img.alt = fill(cfg.photoOf, { title: String(titleOf(feature, cfg) || cfg.markerLabel) });
      // A fixed box (the photo fits inside it), so the popup is laid out before it loads.
      img.width = 160;
      img.height = 120;
      img.src = image;
      box.appendChild(img);
    }
    var dl = document.createElement("dl");
    cfg.props.forEach(function (prop) {
      // The photo and the page are shown as an image and a link, not as addresses.
      if (prop.key === cfg.imageProperty || prop.key === cfg.linkProperty) { return; }
      var value = shownValue(prop, props);
      if (prop.format === "link") {
        var href = safeUrl(value);
        if (!href) { return; }
        var a = text("a", prop.label);
        a.href = withLang(href, cfg.lang);
        var dd = document.createElement("dd");
        dd.appendChild(a);
        dl.appendChild(text("dt", prop.label));
        dl.appendChild(dd);
        return;
      }
      var shown = formatValue(prop, value, cfg);
      if (shown === "") { return; }
      dl.appendChild(text("dt", prop.label));
      dl.appendChild(text("dd", shown));
    });
    box.appendChild(dl);
    var links = document.createElement("p");
    links.className = "geoapp-popup-links";
    var page = cfg.linkProperty ? safeUrl(props[cfg.linkProperty]) : null;
    if (page) {
      var own = text("a", cfg.linkLabel, "geoapp-popup-page");
      own.href = withLang(page, cfg.lang);
      links.appendChild(own);
      links.appendChild(document.createTextNode(" · "));
    }
    var link = text("a", cfg.detailLabel);
    link.href = cfg.itemUrl + encodeURIComponent(String(feature.id)) + "?f=html&lang=" + cfg.lang;
    links.appendChild(link);
    box.appendChild(links);
    return box;
  }

  //: Markers whose icons overlap this much (CSS px, the icon's size) are at "one spot".
  var SAME_SPOT = 22;

  function neighbours(marker) {
    // The other markers drawn where this one is (a shelter and its Wi-Fi access point),
    // in every point layer on the map; a marker hidden in a cluster is not drawn there.
    var map = marker._map;
    if (!map || !marker.getLatLng) { return []; }
    var here = map.latLngToLayerPoint(marker.getLatLng());
    var found = [];
    Object.keys(layers).forEach(function (id) {
      var group = layers[id];
      if (!group.geoappData || !map.hasLayer(group)) { return; }
      group.eachLayer(function (other) {
        if (other === marker || !other.getLatLng || !other.feature) { return; }
        if (group.getVisibleParent && group.getVisibleParent(other) !== other) { return; }
        if (map.latLngToLayerPoint(other.getLatLng()).distanceTo(here) < SAME_SPOT) {
          found.push({ marker: other, group: group });
        }
      });
    });
    return found;
  }

  function withNeighbours(marker, box, cfg) {
    // Overlapping markers catch each other's clicks: the popup names the others here,
    // each a button that opens its own popup.
    var others = neighbours(marker);
    if (!others.length) { return box; }
    box.appendChild(text("p", cfg.alsoHere, "geoapp-popup-also"));
    var list = document.createElement("ul");
    list.className = "geoapp-popup-also-list";
    others.forEach(function (entry) {
      var otherCfg = entry.group.geoappConfig;
      var button = text("button", altFor(entry.marker.feature, otherCfg));
      button.type = "button";
      L.DomEvent.on(button, "click", function (e) {
        L.DomEvent.stop(e);
        marker.closePopup();
        entry.marker.openPopup();
        // The button was in the closed popup: focus goes on into the one it opened.
        var el = entry.marker.getPopup() && entry.marker.getPopup().getElement();
        var content = el && el.querySelector(".leaflet-popup-content");
        if (content) {
          content.setAttribute("tabindex", "-1");
          content.focus({ preventScroll: true });
        }
      });
      var item = document.createElement("li");
      item.appendChild(button);
      list.appendChild(item);
    });
    box.appendChild(list);
    return box;
  }

  function colorValue(feature, cfg) {
    // The value the layer is coloured by, when it has its own colour; else null.
    if (!cfg.colorBy) { return null; }
    var value = (feature.properties || {})[cfg.colorBy];
    value = value === null || value === undefined ? "" : String(value);
    return Object.prototype.hasOwnProperty.call(cfg.icons || {}, value) ? value : null;
  }

  function nameOf(feature, cfg) {
    // A marker's name: the label in the page's language where the layer has copies of it
    // (a detection's "クマ 2頭 …" / "Bear (2) …"), else the popup's title.
    var props = feature.properties || {};
    if (cfg.labelKeys && cfg.labelKeys.length) {
      var label = shownValue({ keys: cfg.labelKeys }, props);
      if (label !== null) { return label; }
    }
    return titleOf(feature, cfg);
  }

  function altFor(feature, cfg) {
    var props = feature.properties || {};
    var alt = cfg.markerLabel + ": " + String(nameOf(feature, cfg) || feature.id);
    if (Object.prototype.hasOwnProperty.call(props, "wifi")) {
      alt += cfg.lang === "ja" ? "（" + (props.wifi ? cfg.wifiYes : cfg.wifiNo) + "）"
                               : " (" + (props.wifi ? cfg.wifiYes : cfg.wifiNo) + ")";
    }
    var value = colorValue(feature, cfg);
    if (value !== null && cfg.colorLabels && cfg.colorLabels[value]) {
      // What the colour says, in words too (colour is never the only cue).
      alt += cfg.lang === "ja" ? "（" + cfg.colorLabels[value] + "）"
                               : " (" + cfg.colorLabels[value] + ")";
    }
    return alt;
  }

  function featureLayer(cfg) {
    if (cfg.tiles) { return tiledLayer(cfg); }
    var group = cfg.cluster
      ? L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 40,
                               attribution: cfg.attribution, iconCreateFunction: clusterIcon(cfg) })
      : L.featureGroup([], { attribution: cfg.attribution });
    group.geoappConfig = cfg;
    layers[cfg.id] = group;
    group.geoappData = L.geoJSON(null, {
      style: function (feature) {
        // A line or area may carry its own colour (a bus route's); only #RRGGBB is trusted.
        var own = cfg.lineColorProperty && feature && feature.properties &&
                  feature.properties[cfg.lineColorProperty];
        var colour = /^#[0-9a-fA-F]{6}$/.test(own || "") ? own : cfg.color;
        return { color: colour, weight: cfg.weight, fill: cfg.fill, fillOpacity: 0.15 };
      },
      interactive: cfg.kind !== "area",
      pointToLayer: function (feature, latlng) {
        var alt = altFor(feature, cfg);
        var value = colorValue(feature, cfg);
        var icon = new AccessibleIcon({ iconUrl: value === null ? cfg.icon : cfg.icons[value],
                                        iconSize: [TARGET, TARGET],
                                        iconAnchor: [TARGET / 2, TARGET / 2],
                                        popupAnchor: [0, -10], label: alt,
                                        color: value === null ? cfg.color : cfg.colors[value] });
        return L.marker(latlng, { icon: icon, alt: alt, title: alt, keyboard: true });
      },
      onEachFeature: function (feature, layer) {
        if (cfg.kind !== "area") {
          layer.bindPopup(function () {
            return withNeighbours(layer, popupFor(feature, cfg), cfg);
          });
        }
      }
    });
    if (cfg.inView) {
      followView(group);
      return group;
    }
    // A layer is fetched when it is first shown, not at page open: hidden ones cost nothing.
    group.once("add", function () { load(group); });
    return group;
  }

  function followView(group) {
    // Drawn by the map's view: asked for again after every move while shown.
    var shownOn = null;
    function reload() { loadInView(group); }
    group.on("add", function () {
      shownOn = group._map;
      shownOn.on("moveend", reload);
      reload();
    });
    group.on("remove", function () {
      if (shownOn) { shownOn.off("moveend", reload); }
      shownOn = null;
    });
  }

  function viewBox(map, area) {
    // The view as minLon,minLat,maxLon,maxLat, rounded outwards to a micro-degree, within
    // the world and the queue's own area filter; null where the two do not meet.
    var b = map.getBounds();
    var box = [Math.floor(b.getWest() * 1e6) / 1e6, Math.floor(b.getSouth() * 1e6) / 1e6,
               Math.ceil(b.getEast() * 1e6) / 1e6, Math.ceil(b.getNorth() * 1e6) / 1e6];
    var limits = area || [-180, -90, 180, 90];
    box = [Math.max(box[0], limits[0], -180), Math.max(box[1], limits[1], -90),
           Math.min(box[2], limits[2], 180), Math.min(box[3], limits[3], 90)];
    return box[0] <= box[2] && box[1] <= box[3] ? box : null;
  }

  function loadInView(group) {
    // One request for the view (at most cfg.limit reports). A marker still in the answer
    // stays as it is (an open popup stays open), the others go, new ones are added; an
    // answer overtaken by a later move is dropped.
    var cfg = group.geoappConfig;
    var map = group._map;
    if (!map) { return; }
    var asked = (group.geoappAsked || 0) + 1;
    group.geoappAsked = asked;
    var box = viewBox(map, cfg.area);
    var answer = box === null
      ? Promise.resolve({ type: "FeatureCollection", features: [], numberReturned: 0,
                          numberMatched: 0 })
      : fetch(cfg.url + (cfg.url.indexOf("?") === -1 ? "?" : "&") + "bbox=" + box.join(","),
              { headers: { Accept: "application/geo+json" } })
          .then(function (response) {
            if (!response.ok) { throw new Error(response.status + " " + response.url); }
            return response.json();
          });
    answer.then(function (body) {
      if (asked !== group.geoappAsked) { return; }
      var drawn = group.geoappDrawn || {};
      var next = {};
      (body.features || []).forEach(function (feature) {
        var key = JSON.stringify(feature);
        var old = drawn[feature.id];
        if (old && (old.geoappKey === key || old.isPopupOpen())) {
          next[feature.id] = old;
          return;
        }
        L.geoJSON(feature, group.geoappData.options).eachLayer(function (layer) {
          layer.geoappKey = key;
          next[feature.id] = layer;
          group.addLayer(layer);
        });
        if (old) { group.removeLayer(old); }
      });
      Object.keys(drawn).forEach(function (id) {
        if (!Object.prototype.hasOwnProperty.call(next, id)) { group.removeLayer(drawn[id]); }
      });
      group.geoappDrawn = next;
      group.geoappAnswered = asked;
      var count = (body.features || []).length;
      // Counted up to a bound: no numberMatched means more than it counts, so more than drawn.
      group.geoappMore = body.numberMatched === undefined ? count >= cfg.limit
                                                          : body.numberMatched > count;
      var status = document.getElementById(cfg.statusId);
      if (status) {
        status.textContent = group.geoappMore ? cfg.tooManyMessage
          : fill(cfg.shownMessage, { n: count.toLocaleString("en-US") });
      }
      group.geoappLoaded = true;
      group.fire("geoapp:loaded", { count: count });
      document.dispatchEvent(new CustomEvent("geoapp:layer-loaded",
        { detail: { id: cfg.id, count: count } }));
    }).catch(function () {
      if (asked !== group.geoappAsked) { return; }
      var status = document.getElementById(cfg.statusId);
      if (status) { status.textContent = cfg.failMessage + ": " + cfg.title; }
    });
  }

  function tileStyle(cfg) {
    // Points in their state's colour; a grid cell (zoomed out) as a circle growing with
    // its count. Drawn as SVG attributes, never inline styles.
    return function (props) {
      if (props.count !== undefined) {
        return { radius: Math.min(24, Math.max(TARGET / 2, 6 + 3 * Math.log(props.count))),
                 fill: true,
                 fillColor: cfg.color, fillOpacity: 0.6, color: "#ffffff", weight: 1.5 };
      }
      var value = cfg.colorBy ? String(props[cfg.colorBy]) : "";
      var colour = Object.prototype.hasOwnProperty.call(cfg.colors || {}, value)
        ? cfg.colors[value] : cfg.color;
      // 24 px across: a finger's target (WCAG 2.5.8), not a dot to aim at.
      return { radius: TARGET / 2, fill: true, fillColor: colour, fillOpacity: 0.95,
               color: "#ffffff", weight: 1.5 };
    };
  }

  function tileLabel(props, cfg) {
    if (props.count !== undefined) {
      return fill(cfg.clusterLabel, { label: cfg.markerLabel, n: props.count });
    }
    var value = cfg.colorBy ? String(props[cfg.colorBy]) : "";
    var words = cfg.colorLabels && cfg.colorLabels[value];
    var name = cfg.markerLabel + " " + String(props.number);
    if (!words) { return name; }
    return cfg.lang === "ja" ? name + "（" + words + "）" : name + " (" + words + ")";
  }

  function tiledLayer(cfg) {
    // The layer drawn from the collection's vector tiles: one request per tile in view,
    // whatever the number of features; a point's popup fetches that one feature.
    var styles = {};
    styles[cfg.id] = tileStyle(cfg);
    var seq = 0;
    var grid = L.vectorGrid.protobuf(cfg.tiles, {
      rendererFactory: L.svg.tile,
      vectorTileLayerStyles: styles,
      interactive: true,
      maxNativeZoom: cfg.tileMaxZoom,
      attribution: cfg.attribution,
      className: "geoapp-tiles geoapp-tiles-" + cfg.id,
      // Stored per tile, so each drawn point can be named and reached by keyboard.
      getFeatureId: function () { seq += 1; return seq; }
    });
    grid.geoappConfig = cfg;
    layers[cfg.id] = grid;
    grid.getLayers = function () {
      // Every feature drawn in the tiles now on the map.
      var drawn = [];
      Object.keys(grid._vectorTiles).forEach(function (key) {
        var features = grid._vectorTiles[key]._features || {};
        Object.keys(features).forEach(function (id) { drawn.push(features[id].feature); });
      });
      return drawn;
    };
    grid.on("click", function (e) {
      openTiled(grid, e.layer, e.latlng, false);
    });
    grid.on("tileload", function (e) {
      var renderer = grid._vectorTiles[grid._tileCoordsToKey(e.coords)];
      var features = (renderer && renderer._features) || {};
      Object.keys(features).forEach(function (id) {
        var point = features[id].feature;
        var path = point._path;
        if (!path) { return; }
        // Where the point is: Leaflet asks a clicked circle for it (VectorGrid leaves it
        // unset), and a popup opened from the keyboard has no click to say it.
        point._latlng = grid._map.unproject(
          e.coords.scaleBy(grid.getTileSize()).add(point._point), e.coords.z);
        path.setAttribute("role", "button");
        path.setAttribute("tabindex", "0");
        path.setAttribute("aria-label", tileLabel(point.properties, cfg));
        if (point.properties.number !== undefined) {
          path.setAttribute("data-number", String(point.properties.number));
        }
        L.DomEvent.on(path, "keydown", function (ev) {
          if (ev.key === "Enter" || ev.key === " ") {
            L.DomEvent.stop(ev);
            openTiled(grid, point, point._latlng, true);
          }
        });
      });
    });
    grid.on("load", function () {
      grid.geoappLoaded = true;
      document.dispatchEvent(new CustomEvent("geoapp:layer-loaded",
        { detail: { id: cfg.id, count: grid.getLayers().length } }));
    });
    grid.on("tileerror", function () {
      var status = document.getElementById("map-status");
      if (status) { status.textContent = cfg.failMessage + ": " + cfg.title; }
    });
    return grid;
  }

  function openTiled(grid, point, latlng, byKeyboard) {
    var cfg = grid.geoappConfig;
    var map = grid._map;
    var props = point.properties || {};
    if (props.count !== undefined) {
      // A grid cell: zoom in towards it, where its points are drawn one by one.
      map.setView(latlng, Math.min(map.getZoom() + 2, map.getMaxZoom()));
      return;
    }
    fetch(withLang(cfg.itemUrl + encodeURIComponent(String(props.number)), cfg.lang),
          { headers: { Accept: "application/geo+json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status + " " + response.url); }
        return response.json();
      })
      .then(function (feature) {
        var popup = L.popup({ autoPanPaddingTopLeft: [10, 10] })
          .setLatLng(latlng).setContent(popupFor(feature, cfg));
        popup.geoappOpener = byKeyboard ? point._path : null;
        popup.openOn(map);
      })
      .catch(function () {
        var status = document.getElementById("map-status");
        if (status) { status.textContent = cfg.failMessage + ": " + cfg.title; }
      });
  }

  function load(group) {
    var cfg = group.geoappConfig;
    // Follow `next` links so a layer of any size arrives whole, a page at a time.
    function page(url) {
      return fetch(url, { headers: { Accept: "application/geo+json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error(response.status + " " + url); }
          return response.json();
        })
        .then(function (body) {
          var fresh = L.geoJSON(body, group.geoappData.options);
          fresh.eachLayer(function (layer) { group.addLayer(layer); });
          var next = (body.links || []).filter(function (l) { return l.rel === "next"; })[0];
          if (next) { return page(next.href); }
          group.geoappLoaded = true;
          group.fire("geoapp:loaded", { count: group.getLayers().length });
          document.dispatchEvent(new CustomEvent("geoapp:layer-loaded",
            { detail: { id: cfg.id, count: group.getLayers().length } }));
        });
    }
    page(cfg.url).catch(function () {
      var status = document.getElementById("map-status");
      if (status) { status.textContent = cfg.failMessage + ": " + cfg.title; }
    });
  }

  function setupMap(map, cfg) {
    var box = map.getContainer();
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", cfg.regionLabel);
    // Controls first in the DOM, so Tab reaches zoom, locate and the layer list before
    // the (many) markers; they stay where they are drawn (absolutely positioned corners).
    var controls = box.querySelector(".leaflet-control-container");
    if (controls) { box.insertBefore(controls, box.firstChild); }
    L.control.zoom({ zoomInTitle: cfg.zoomIn, zoomOutTitle: cfg.zoomOut }).addTo(map);
    if (map.attributionControl) {
      // Leaflet's prefix carries an English tooltip and a flag image; keep the plain credit,
      // as text: a link there is one a stray tap on a phone follows off the site.
      map.attributionControl.setPrefix("Leaflet");
      if (box.clientWidth < NARROW_MAP) { foldCredits(map, cfg); }
    }
    popupSheet(map);  // first: moving a popup that has the focus would drop it
    setupPopups(map, cfg);
    declutter(map);
    window.geoappMap = map;
  }

  function setupPopups(map, cfg) {
    var opener = null;  // the marker whose popup the keyboard opened, to return focus to
    map.on("popupopen", function (e) {
      var el = e.popup.getElement();
      var close = el && el.querySelector(".leaflet-popup-close-button");
      if (close) {
        close.setAttribute("aria-label", cfg.closePopup);
        close.title = cfg.closePopup;
      }
      var source = e.popup._source;
      var icon = source && source.getElement && source.getElement();
      opener = null;
      if (e.popup.geoappOpener) {  // a vector tile's point, opened from the keyboard
        icon = e.popup.geoappOpener;
        source = { getElement: function () { return icon; } };
      }
      if (icon && (document.activeElement === icon || e.popup.geoappOpener)) {
        // Opened from the keyboard: move focus into the popup so it is read out.
        opener = source;
        var content = el.querySelector(".leaflet-popup-content");
        content.setAttribute("tabindex", "-1");
        content.focus({ preventScroll: true });
      }
    });
    map.on("popupclose", function (e) {
      var el = e.popup.getElement();
      var returning = opener;
      opener = null;
      if (!returning) { return; }
      var active = document.activeElement;
      if (active === document.body || (el && el.contains(active)) || active === map.getContainer()) {
        var icon = returning.getElement && returning.getElement();
        if (icon && document.body.contains(icon)) { icon.focus({ preventScroll: true }); }
      }
    });
    // Escape closes the popup wherever focus is in the map (Leaflet only listens when
    // the map container itself has focus).
    L.DomEvent.on(map.getContainer(), "keydown", function (e) {
      if ((e.key === "Escape" || e.keyCode === 27) && map._popup && map.hasLayer(map._popup)) {
        map.closePopup();
        L.DomEvent.stop(e);
      }
    });
  }

  function finishMap(map, cfg) {
    var box = map.getContainer();
    layerControls.forEach(function (control) {
      if (control._map !== map) { return; }
      var el = control.getContainer();
      // A named group of checkboxes; Leaflet's aria-haspopup claims a menu there is not.
      el.removeAttribute("aria-haspopup");
      el.setAttribute("role", "group");
      el.setAttribute("aria-label", cfg.layersLabel);
      var toggle = el.querySelector(".leaflet-control-layers-toggle");
      toggle.title = cfg.layersLabel;
      toggle.setAttribute("aria-label", cfg.layersLabel);
      foldable(map, control, toggle, box.clientWidth >= NARROW_MAP);
    });
    Array.prototype.forEach.call(box.querySelectorAll(".leaflet-control a[role=button][title]"),
      function (button) {
        if (!button.getAttribute("aria-label")) { button.setAttribute("aria-label", button.title); }
      });
  }

  function foldable(map, control, toggle, open) {
    // The list folds behind its button: a disclosure button that stays in place, says
    // whether the list is open, and toggles it by mouse, touch, Enter or Space. A wide map
    // opens with the list shown and keeps it until its button folds it; a narrow one opens
    // folded and folds it again on a tap on the map or when focus leaves it.
    var el = control.getContainer();
    el.classList.add("geoapp-foldable");
    var expand = control.expand;
    var collapse = control.collapse;
    control.expand = function () {
      expand.call(control);
      toggle.setAttribute("aria-expanded", "true");
      return control;
    };
    control.collapse = function () {
      collapse.call(control);
      toggle.setAttribute("aria-expanded", "false");
      return control;
    };
    L.DomEvent.off(toggle);  // Leaflet's handlers only ever expand
    L.DomEvent.on(toggle, "click", function (e) {
      L.DomEvent.preventDefault(e);
      if (el.classList.contains("leaflet-control-layers-expanded")) {
        control.collapse();
      } else {
        control.expand();
      }
    });
    L.DomEvent.on(toggle, "keydown", function (e) {
      if (e.key === " ") { L.DomEvent.preventDefault(e); toggle.click(); }
    });
    // Leaflet re-opens a list made uncollapsed whenever a layer comes or goes: no longer.
    control.options.collapsed = true;
    if (open) {
      control.expand();
    } else {
      control.collapse();
      map.on("click", control.collapse, control);
      L.DomEvent.on(el, "focusout", function (e) {
        if (e.relatedTarget && !el.contains(e.relatedTarget)) { control.collapse(); }
      });
    }
    L.DomEvent.on(el, "keydown", function (e) {
      if ((e.key === "Escape" || e.keyCode === 27) &&
          el.classList.contains("leaflet-control-layers-expanded")) {
        control.collapse();
        toggle.focus();
        L.DomEvent.stop(e);
      }
    });
  }

  function foldCredits(map, cfg) {
    // A narrow map shows an ⓘ button in place of the credits (six lines on a phone); it
    // opens them, and while they are folded there is no link a stray tap can follow.
    // Leaflet rewrites the credit box's content whenever a layer comes or goes, so the
    // button sits beside that box, in a wrapper of its own.
    var credits = map.attributionControl.getContainer();
    var wrap = L.DomUtil.create("div", "geoapp-credits leaflet-control");
    credits.parentNode.insertBefore(wrap, credits);
    var button = L.DomUtil.create("button", "geoapp-credits-toggle", wrap);
    button.type = "button";
    button.textContent = "ⓘ";
    button.setAttribute("aria-label", cfg.credits);
    button.title = cfg.credits;
    var id = map.getContainer().id + "-credits";
    credits.id = id;
    button.setAttribute("aria-controls", id);
    wrap.appendChild(credits);
    function show(open) {
      wrap.classList.toggle("geoapp-credits-open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }
    show(false);
    L.DomEvent.disableClickPropagation(wrap);
    L.DomEvent.on(button, "click", function () {
      show(!wrap.classList.contains("geoapp-credits-open"));
    });
    L.DomEvent.on(wrap, "keydown", function (e) {
      if ((e.key === "Escape" || e.keyCode === 27) && wrap.classList.contains("geoapp-credits-open")) {
        show(false);
        button.focus();
        L.DomEvent.stop(e);
      }
    });
    map.on("click", function () { show(false); });
  }

  function popupSheet(map) {
    // On a narrow map a popup opens as a sheet along the map's bottom, above the controls
    // (zoom, locate and the layer list would cover a popup drawn at its marker). It is moved
    // out of the map pane, whose transform would carry it along with the map.
    var box = map.getContainer();
    map.on("popupopen", function (e) {
      var el = e.popup.getElement();
      if (!el) { return; }
      el.classList.remove("geoapp-sheet-closed");  // Leaflet reuses a marker's popup
      if (box.clientWidth >= NARROW_MAP) {
        el.classList.remove("geoapp-sheet");
        clearOfControls(map, el);
        return;
      }
      box.appendChild(el);
      el.classList.add("geoapp-sheet");
      box.classList.add("geoapp-sheet-open");
      var corner = box.querySelector(".leaflet-control-container .leaflet-bottom");
      // Above the scale and the credits' button, so none of them lies under the sheet.
      var below = 0;
      Array.prototype.forEach.call(box.querySelectorAll(".leaflet-bottom"), function (c) {
        below = Math.max(below, c.offsetHeight);
      });
      // A custom property: Leaflet sets the popup's own bottom whenever it redraws it.
      el.style.setProperty("--geoapp-sheet-bottom", (corner ? below : 0) + "px");
      // Keep the marker in sight, above the sheet.
      var at = e.popup.getLatLng && e.popup.getLatLng();
      if (at) {
        var y = map.latLngToContainerPoint(at).y;
        var top = box.clientHeight - below - el.offsetHeight;
        if (y > top - TARGET) { map.panBy([0, y - top / 2], { animate: false }); }
      }
      // A phone's map is taller than what is left of the screen below the page's top.
      el.scrollIntoView({ block: "nearest" });
      sheet = el;
      under();
    });
    var sheet = null;
    function under() {
      // What the sheet covers is no target while it is open: a marker half under it would
      // be half a target (and Tab would reach markers no one can see).
      var s = sheet && sheet.getBoundingClientRect();
      Array.prototype.forEach.call(
        box.querySelectorAll(".leaflet-marker-icon, .geoapp-tiles path"), function (el) {
          var r = el.getBoundingClientRect();
          el.classList.toggle("geoapp-under-sheet", Boolean(s && r.width && r.bottom > s.top &&
            r.top < s.bottom && r.right > s.left && r.left < s.right));
        });
    }
    // Markers nudged apart, or a sheet grown as its photo loads: what it covers anew.
    map.on("moveend zoomend geoapp:decluttered", function () { if (sheet) { under(); } });
    if (window.ResizeObserver) {
      new ResizeObserver(function () { if (sheet) { under(); } }).observe(box);
    }
    map.on("popupclose", function (e) {
      // Leaflet fades a closed popup out before it removes it: a sheet goes at once, so
      // nothing half-faded lies over the map meanwhile.
      var el = e.popup.getElement();
      if (el && el.classList.contains("geoapp-sheet")) { el.classList.add("geoapp-sheet-closed"); }
      box.classList.remove("geoapp-sheet-open");
      sheet = null;
      under();
    });
  }

  function clearOfControls(map, popup) {
    // A popup at its marker on a wide map: an open layer list over it folds away, and a
    // control of the top left corner (zoom, locate) over it makes the map move it clear.
    var box = map.getContainer();
    var p = popup.getBoundingClientRect();
    function meets(r) {
      return r.width > 0 && r.left < p.right && p.left < r.right && r.top < p.bottom &&
             p.top < r.bottom;
    }
    layerControls.forEach(function (control) {
      var el = control.getContainer();
      if (control._map === map && el.classList.contains("geoapp-foldable") &&
          meets(el.getBoundingClientRect())) { control.collapse(); }
    });
    var shift = 0;
    Array.prototype.forEach.call(box.querySelectorAll(".leaflet-top.leaflet-left .leaflet-control"),
      function (control) {
        var r = control.getBoundingClientRect();
        if (meets(r)) { shift = Math.max(shift, r.right + 10 - p.left); }
      });
    if (shift > 0) { map.panBy([-shift, 0], { animate: false }); }
  }

  //: Where a marker that would lie on another may go instead, in its own widths: its spot,
  //: then twelve places on each of six rings around it, nearest first.
  var NUDGES = [[0, 0]];
  [0.5, 1, 1.5, 2, 2.5, 3].forEach(function (ring) {
    for (var k = 0; k < 12; k += 1) {
      var angle = (k * Math.PI) / 6;
      NUDGES.push([ring * Math.cos(angle), ring * Math.sin(angle)]);
    }
  });

  function declutter(map) {
    // Markers of different layers on one spot (a shelter and its Wi-Fi access point), or a
    // group of one layer over a marker of another, would lie one on another: the one
    // beneath could not be seen, tapped or told apart (WCAG 2.5.8 asks 24 px free for each).
    // Each marker that would overlap one placed before it (in the page's order), or a report
    // point drawn from the vector tiles (those stay where they are), is nudged to the
    // nearest free place around its spot; it keeps its place on the map otherwise.
    var pane = map.getPane("markerPane");
    var box = map.getContainer();
    var pending = false;
    function overlaps(a, list) {
      return list.some(function (b) {
        return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
      });
    }
    function run() {
      pending = false;
      // In the map's layer pixels: where Leaflet puts each icon (its final place, even while
      // a group slides there), not where the screen shows it mid-animation.
      var size = map.getSize();
      var origin = box.getBoundingClientRect();
      function spotOf(r) {
        var at = map.containerPointToLayerPoint([r.left - origin.left, r.top - origin.top]);
        return { left: at.x, top: at.y, right: at.x + r.width, bottom: at.y + r.height };
      }
      // The map's controls stay put: a marker under one could be neither seen nor tapped.
      var placed = Array.prototype.map.call(
        box.querySelectorAll(".leaflet-control-container .leaflet-control"),
        function (control) { return spotOf(control.getBoundingClientRect()); });
      Array.prototype.forEach.call(box.querySelectorAll(".geoapp-tiles path[tabindex]"),
        function (path) {
          var spot = spotOf(path.getBoundingClientRect());
          if (!path.hasAttribute("data-number") && overlaps(spot, placed)) {
            // A grid cell (reports counted, zoomed out) on another: drawn, but no target of
            // its own; the one it lies under zooms in there, where both come apart.
            path.removeAttribute("tabindex");
            path.removeAttribute("role");
            path.setAttribute("aria-hidden", "true");
            path.classList.add("geoapp-tiles-under");
            return;
          }
          placed.push(spot);
        });
      // Groups first: a marker is nudged off a group, never a group off a marker.
      var icons = Array.prototype.slice.call(pane.querySelectorAll(".leaflet-marker-icon"));
      icons.sort(function (a, b) {
        return (b.classList.contains("marker-cluster") ? 1 : 0) -
               (a.classList.contains("marker-cluster") ? 1 : 0);
      });
      icons.forEach(function (el) {
        var pos = el._leaflet_pos;  // set by L.DomUtil.setPosition
        var w = el.offsetWidth;
        var h = el.offsetHeight;
        if (!pos || !w) { return; }
        var margin = [parseFloat(el.style.marginLeft) || 0, parseFloat(el.style.marginTop) || 0];
        if (!el.geoappSet || el.geoappSet[0] !== margin[0] || el.geoappSet[1] !== margin[1]) {
          // Leaflet's own margins (the icon's anchor), set anew when it redraws the icon.
          el.geoappMargin = margin;
        }
        var left = pos.x + el.geoappMargin[0];
        var top = pos.y + el.geoappMargin[1];
        var seen = map.layerPointToContainerPoint([left, top]);
        var off = seen.x + w < 0 || seen.y + h < 0 || seen.x > size.x || seen.y > size.y;
        // Off the map, a marker is clipped away but would still be reached by Tab and lie
        // (for a pointer's geometry) over the page around the map: out of reach until in view.
        el.classList.toggle("geoapp-off-map", off);
        if (off) { return; }
        var nudge = null;
        for (var i = 0; i < NUDGES.length && nudge === null; i += 1) {
          var dx = Math.round(NUDGES[i][0] * (w + 1));
          var dy = Math.round(NUDGES[i][1] * (h + 1));
          if (!overlaps({ left: left + dx, top: top + dy, right: left + dx + w,
                          bottom: top + dy + h }, placed)) { nudge = [dx, dy]; }
        }
        nudge = nudge || [0, 0];  // crowded all round: leave it where it belongs
        placed.push({ left: left + nudge[0], top: top + nudge[1], right: left + nudge[0] + w,
                      bottom: top + nudge[1] + h });
        var want = [el.geoappMargin[0] + nudge[0], el.geoappMargin[1] + nudge[1]];
        if (want[0] !== margin[0] || want[1] !== margin[1]) {
          el.geoappSet = want;
          el.style.marginLeft = want[0] + "px";
          el.style.marginTop = want[1] + "px";
        }
      });
      map.fire("geoapp:decluttered");
    }
    function later() {
      if (!pending) { pending = true; setTimeout(run, 0); }
    }
    // Markers come and go as layers load, groups split on zoom and the view moves; Leaflet
    // redraws a group's icon in place (its margins anew) as markers join it. Nudges
    // settle: a second pass over the same markers moves nothing.
    new MutationObserver(later).observe(pane, { childList: true, subtree: true,
                                                attributes: true, attributeFilter: ["style"] });
    map.on("zoomend moveend", later);
    pane.addEventListener("transitionend", later);  // groups slide apart as the map zooms
    document.addEventListener("geoapp:layer-loaded", later);
  }

  window.geoapp = { featureLayer: featureLayer, load: load, setupMap: setupMap,
                    finishMap: finishMap, layers: layers };
})();
