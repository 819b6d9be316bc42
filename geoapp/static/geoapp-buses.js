/* Live community buses on a Leaflet map: positions refetched every few seconds, markers
   moved in place, stale ones greyed, gone ones removed. Text is set with textContent. */
(function () {
  "use strict";

  var layers = {};

  function hhmmss(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return iso; }
    // Japan time, whatever the browser's zone.
    var j = new Date(d.getTime() + 9 * 3600 * 1000);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return two(j.getUTCHours()) + ":" + two(j.getUTCMinutes()) + ":" + two(j.getUTCSeconds());
  }

  function describe(cfg, p) {
    var parts = [cfg.busLabel + ": " + (p.label || p.vehicle_id)];
    if (p.route) { parts.push(cfg.routeLabel + " " + p.route); }
    parts.push(cfg.timeLabel + " " + hhmmss(p.observed_at));
    if (p.stale) { parts.push(cfg.staleLabel); }
    return parts.join("、");
  }

  function icon(cfg, p) {
    var el = document.createElement("span");
    el.className = "geoapp-bus-icon";
    var hidden = document.createElement("span");
    hidden.className = "visually-hidden";
    hidden.textContent = describe(cfg, p);
    el.appendChild(hidden);
    return L.divIcon({
      className: "geoapp-bus" + (p.stale ? " geoapp-bus-stale" : ""),
      html: el, iconSize: [24, 24], iconAnchor: [12, 12], popupAnchor: [0, -12],
    });
  }

  function popup(cfg, p) {
    var box = document.createElement("div");
    var rows = [[cfg.busLabel, p.label || p.vehicle_id], [cfg.routeLabel, p.route || "—"],
                [cfg.timeLabel, hhmmss(p.observed_at)]];
    rows.forEach(function (row) {
      var line = document.createElement("p");
      var b = document.createElement("strong");
      b.textContent = row[0] + ": ";
      line.appendChild(b);
      line.appendChild(document.createTextNode(row[1]));
      box.appendChild(line);
    });
    if (p.stale) {
      var note = document.createElement("p");
      note.className = "geoapp-bus-stale-note";
      note.textContent = cfg.staleNote;
      box.appendChild(note);
    }
    return box;
  }

  function busLayer(map, cfg) {
    var group = L.layerGroup();
    var markers = {};
    group.geoappUpdates = 0;
    group.geoappMarkers = markers;
    layers[cfg.id] = group;

    function update(data) {
      var seen = {};
      (data.features || []).forEach(function (f) {
        var p = f.properties || {};
        var c = f.geometry.coordinates;
        var at = [c[1], c[0]];
        var id = String(f.id);
        seen[id] = true;
        var m = markers[id];
        if (!m) {
          m = L.marker(at, {icon: icon(cfg, p), keyboard: true, riseOnHover: true});
          m.bindPopup(popup(cfg, p));
          markers[id] = m;
          group.addLayer(m);
        } else {
          m.setLatLng(at);
          m.setIcon(icon(cfg, p));
          m.setPopupContent(popup(cfg, p));
        }
        m.geoappProps = p;
      });
      Object.keys(markers).forEach(function (id) {
        if (!seen[id]) { group.removeLayer(markers[id]); delete markers[id]; }
      });
      group.geoappUpdates += 1;
    }

    function refresh() {
      fetch(cfg.url, {headers: {Accept: "application/geo+json"}, cache: "no-store"})
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(update)
        .catch(function () { /* keep the last positions; the next round retries */ })
        .then(function () { window.setTimeout(refresh, cfg.refreshSeconds * 1000); });
    }

    if (cfg.show) { group.addTo(map); }
    refresh();
    return group;
  }

  window.geoappBuses = { busLayer: busLayer, layers: layers };
})();
