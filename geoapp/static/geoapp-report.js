/* The report form: location by map tap, phone location, landmark or typed coordinates;
   open reports of the same category nearby, with 'me too'. Text is set with textContent. */
(function () {
  "use strict";

  function field(id) { return document.getElementById(id); }


  function locationPicker(map, cfg) {
    var marker = null;
    function place(lat, lon, pan) {
      if (!isFinite(lat) || !isFinite(lon)) { return; }
      if (!marker) {
        marker = L.marker([lat, lon], { alt: cfg.markerLabel, title: cfg.markerLabel,
                                        keyboard: false }).addTo(map);
      } else {
        marker.setLatLng([lat, lon]);
      }
      if (pan) { map.setView([lat, lon], Math.max(map.getZoom(), 16)); }
    }
    function setFields(lat, lon) {
      field(cfg.latField).value = lat.toFixed(6);
      field(cfg.lonField).value = lon.toFixed(6);
      field(cfg.latField).dispatchEvent(new Event("change", { bubbles: true }));
    }
    map.on("click", function (e) { setFields(e.latlng.lat, e.latlng.lng); place(e.latlng.lat, e.latlng.lng, false); });
    [cfg.latField, cfg.lonField].forEach(function (id) {
      field(id).addEventListener("change", function () {
        place(parseFloat(field(cfg.latField).value), parseFloat(field(cfg.lonField).value), true);
      });
    });
    var landmark = field("landmark");
    if (landmark) {
      landmark.addEventListener("change", function () {
        if (!landmark.value) { return; }
        var parts = landmark.value.split(",");
        setFields(parseFloat(parts[0]), parseFloat(parts[1]));
      });
    }
    var locate = field("use-my-location");
    if (locate && navigator.geolocation) {
      locate.hidden = false;
      locate.addEventListener("click", function () {
        var status = field("location-status");
        status.textContent = locate.getAttribute("data-waiting");
        navigator.geolocation.getCurrentPosition(function (pos) {
          setFields(pos.coords.latitude, pos.coords.longitude);
          status.textContent = locate.getAttribute("data-done");
        }, function () {
          status.textContent = locate.getAttribute("data-failed");
        }, { enableHighAccuracy: true, timeout: 15000 });
      });
    }
    place(parseFloat(field(cfg.latField).value), parseFloat(field(cfg.lonField).value), true);
    showCategoryFields();
    watchNearby();
  }

  function showCategoryFields() {
    // Only the chosen category's own fields (e.g. the street light number) are shown.
    var category = field("category");
    if (!category) { return; }
    function update() {
      var fields = document.querySelectorAll(".category-attribute");
      Array.prototype.forEach.call(fields, function (p) {
        p.hidden = p.getAttribute("data-category") !== category.value;
      });
    }
    category.addEventListener("change", update);
    update();
  }

  function watchNearby() {
    var box = field("nearby");
    if (!box) { return; }
    var list = field("nearby-list");
    var lang = document.documentElement.lang || "ja";
    function refresh() {
      var lat = field("lat").value, lon = field("lon").value, category = field("category").value;
      list.textContent = "";
      box.hidden = true;
      if (!lat || !lon || !category) { return; }
      var url = "/api/v1/reports/nearby?lat=" + encodeURIComponent(lat) + "&lon=" +
                encodeURIComponent(lon) + "&category=" + encodeURIComponent(category);
      fetch(url).then(function (r) { return r.ok ? r.json() : []; }).then(function (reports) {
        if (!reports.length) { return; }
        reports.forEach(function (report) {
          var item = document.createElement("li");
          var link = document.createElement("a");
          link.href = report.url + (lang === "en" ? "?lang=en" : "");
          link.textContent = "No. " + report.number + " " + report.category[lang] + "（" +
            report.status[lang] + "、" + Math.round(report.distance_m) + " m）";
          item.appendChild(link);
          var text = document.createElement("p");
          text.textContent = report.description;
          item.appendChild(text);
          var form = document.createElement("form");
          form.method = "post";
          form.action = "/reports/" + report.number + "/support";
          var hidden = document.createElement("input");
          hidden.type = "hidden"; hidden.name = "lang"; hidden.value = lang;
          form.appendChild(hidden);
          var button = document.createElement("button");
          button.type = "submit";
          button.textContent = box.getAttribute("data-me-too");
          form.appendChild(button);
          item.appendChild(form);
          list.appendChild(item);
        });
        box.hidden = false;
      });
    }
    ["lat", "lon", "category"].forEach(function (id) {
      field(id).addEventListener("change", refresh);
    });
    refresh();
  }

  function reportMarker(map, cfg) {
    L.marker([cfg.lat, cfg.lon], { alt: cfg.markerLabel, title: cfg.markerLabel,
                                   keyboard: false }).addTo(map);
  }

  window.geoappReport = { locationPicker: locationPicker, reportMarker: reportMarker };
  if (window.geoapp) {
    window.geoapp.locationPicker = locationPicker;
    window.geoapp.reportMarker = reportMarker;
  }
})();
