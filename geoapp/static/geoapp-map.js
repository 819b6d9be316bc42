/* geoapp's map behaviour: layers fetched from the feature API, accessible markers,
   popups built with textContent (never innerHTML), Japanese/English controls. */
(function () {
  "use strict";

  var layers = {};  // by layer id: lets tests and page scripts reach each layer

  var AccessibleIcon = L.Icon.extend({
    // Leaflet gives keyboard markers role="button"; give each a name screen readers announce.
    createIcon: function (old) {
      var img = L.Icon.prototype.createIcon.call(this, old);
      img.setAttribute("aria-label", this.options.label);
      return img;
    }
  });

  function text(tag, value, className) {
    var el = document.createElement(tag);
    el.textContent = value;
    if (className) { el.className = className; }
    return el;
  }

  function formatValue(prop, value, cfg) {
    if (prop.type === "boolean") { return value ? cfg.yes : cfg.no; }
    if (value === null || value === undefined) { return ""; }
    return String(value);
  }

  function popupFor(feature, cfg) {
    var box = document.createElement("div");
    box.className = "geoapp-popup";
    var props = feature.properties || {};
    box.appendChild(text("p", cfg.title, "geoapp-popup-layer"));
    if (cfg.labelProperty) {
      box.appendChild(text("h2", String(props[cfg.labelProperty] || ""), "geoapp-popup-title"));
    }
    var dl = document.createElement("dl");
    cfg.props.forEach(function (prop) {
      if (prop.key === cfg.labelProperty) { return; }
      var shown = formatValue(prop, props[prop.key], cfg);
      if (shown === "") { return; }
      dl.appendChild(text("dt", prop.label));
      dl.appendChild(text("dd", shown));
    });
    box.appendChild(dl);
    var link = text("a", cfg.detailLabel);
    link.href = cfg.itemUrl + encodeURIComponent(String(feature.id)) + "?f=html&lang=" + cfg.lang;
    box.appendChild(link);
    return box;
  }

  function altFor(feature, cfg) {
    var props = feature.properties || {};
    var alt = cfg.markerLabel + ": " + String(props[cfg.labelProperty] || feature.id);
    if (Object.prototype.hasOwnProperty.call(props, "wifi")) {
      alt += cfg.lang === "ja" ? "（" + (props.wifi ? cfg.wifiYes : cfg.wifiNo) + "）"
                               : " (" + (props.wifi ? cfg.wifiYes : cfg.wifiNo) + ")";
    }
    return alt;
  }

  function featureLayer(cfg) {
    var group = cfg.cluster
      ? L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 40,
                               attribution: cfg.attribution })
      : L.featureGroup([], { attribution: cfg.attribution });
    group.geoappConfig = cfg;
    layers[cfg.id] = group;
    group.geoappData = L.geoJSON(null, {
      style: function () {
        return { color: cfg.color, weight: cfg.weight, fill: cfg.fill, fillOpacity: 0.15 };
      },
      interactive: cfg.kind !== "area",
      pointToLayer: function (feature, latlng) {
        var alt = altFor(feature, cfg);
        var icon = new AccessibleIcon({ iconUrl: cfg.icon, iconSize: [22, 22],
                                        iconAnchor: [11, 11], popupAnchor: [0, -10],
                                        label: alt });
        return L.marker(latlng, { icon: icon, alt: alt, title: alt, keyboard: true });
      },
      onEachFeature: function (feature, layer) {
        if (cfg.kind !== "area") {
          layer.bindPopup(function () { return popupFor(feature, cfg); });
        }
      }
    });
    return group;
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
    L.control.zoom({ zoomInTitle: cfg.zoomIn, zoomOutTitle: cfg.zoomOut }).addTo(map);
    window.geoappMap = map;
  }

  window.geoapp = { featureLayer: featureLayer, load: load, setupMap: setupMap, layers: layers };
})();
