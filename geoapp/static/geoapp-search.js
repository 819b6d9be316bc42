/* The place search box as an ARIA 1.2 combobox with a listbox popup: suggestions from
   /search while typing (debounced), arrow keys, Enter and Escape, the count announced in
   a live region. Choosing a place on the map page moves the map there and opens that
   feature's popup (or a labelled marker); elsewhere it opens the place's page. Without
   JavaScript the box stays a plain GET form to /search?f=html. Text goes in by
   textContent only, never innerHTML. */
(function () {
  "use strict";

  var DEBOUNCE_MS = 200;
  var PLACE_ZOOM = 17;
  var TOWN_ZOOM = 16;
  var searchMarker = null;  // the one marker a search placed, replaced by the next

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, key) {
      return values[key] === undefined ? all : String(values[key]);
    });
  }

  function element(tag, className, textValue) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    if (textValue !== undefined) { el.textContent = textValue; }
    return el;
  }

  function withQuery(base, params) {
    var parts = Object.keys(params).map(function (k) {
      return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]);
    });
    return base + (base.indexOf("?") >= 0 ? "&" : "?") + parts.join("&");
  }

  // --- on the map ------------------------------------------------------------------------

  function popupBox(result, linkText) {
    var box = element("div", "geoapp-popup");
    box.appendChild(element("p", "geoapp-popup-layer", result.kind_label));
    box.appendChild(element("h2", "geoapp-popup-title", result.name));
    if (result.kind !== "town" && result.url) {
      var p = element("p", "geoapp-popup-links");
      var a = element("a", "", linkText || result.name);
      a.href = result.url;
      p.appendChild(a);
      box.appendChild(p);
    }
    return box;
  }

  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return "&#" + c.charCodeAt(0) + ";";
    });
  }

  function placeMarker(map, result, form, focus) {
    // A labelled, focusable marker at the place, with a popup saying what it is.
    if (searchMarker) { map.removeLayer(searchMarker); }
    var label = fill(form.dataset.marker, { name: result.name });
    var latlng = L.latLng(result.lat, result.lon);
    var options = { keyboard: true, title: label, alt: label,
                    icon: L.divIcon({ className: "place-search-marker", iconSize: [24, 24],
                                      iconAnchor: [12, 12], popupAnchor: [0, -10] }) };
    if (result.kind === "town" && form.dataset.townsCredit) {
      // The town names' credit joins the map's attribution while their marker is shown.
      options.attribution = escapeHtml(form.dataset.townsCredit);
    }
    searchMarker = L.marker(latlng, options).bindPopup(popupBox(result, form.dataset.more));
    map.setView(latlng, result.kind === "town" ? TOWN_ZOOM : PLACE_ZOOM);
    searchMarker.addTo(map);
    var icon = searchMarker.getElement();
    if (icon) { icon.setAttribute("aria-label", label); }
    openFocused(searchMarker, focus);
  }

  function openFocused(marker, focus) {
    // Focus the marker first: the map's popup handling then moves focus into the popup,
    // so it is read out, and back to the marker when the popup closes.
    var icon = marker.getElement && marker.getElement();
    if (focus && icon) { icon.focus({ preventScroll: true }); }
    marker.openPopup();
  }

  function findMarker(group, id) {
    var found = null;
    group.eachLayer(function (layer) {
      if (!found && layer.feature && String(layer.feature.id) === String(id)) { found = layer; }
    });
    return found;
  }

  function whenLoaded(group, id, done) {
    if (group.geoappLoaded) { done(); return; }
    var timer = setTimeout(finish, 10000);
    function finish() {
      clearTimeout(timer);
      document.removeEventListener("geoapp:layer-loaded", loaded);
      done();
    }
    function loaded(e) { if (e.detail && e.detail.id === id) { finish(); } }
    document.addEventListener("geoapp:layer-loaded", loaded);
  }

  function showOnMap(map, result, form) {
    var layers = (window.geoapp && window.geoapp.layers) || {};
    var group = result.kind === "feature" ? layers[result.collection] : null;
    if (!group || !group.geoappConfig || group.geoappConfig.tiles) {
      placeMarker(map, result, form, true);
      return;
    }
    if (searchMarker) { map.removeLayer(searchMarker); searchMarker = null; }
    map.setView(L.latLng(result.lat, result.lon), Math.max(map.getZoom(), PLACE_ZOOM));
    if (!map.hasLayer(group)) { map.addLayer(group); }  // a hidden layer is fetched now
    whenLoaded(group, result.collection, function () {
      var marker = findMarker(group, result.id);
      if (!marker) { placeMarker(map, result, form, true); return; }
      if (group.zoomToShowLayer) {
        // Inside a cluster: zoom until the marker is drawn on its own, then open it.
        group.zoomToShowLayer(marker, function () { openFocused(marker, true); });
      } else {
        openFocused(marker, true);
      }
    });
  }

  function placeFromAddress(map, form) {
    // /?at=LAT,LON&label=NAME (the search page's "show on the map" links): a marker there.
    var params = new URLSearchParams(window.location.search);
    var at = (params.get("at") || "").split(",").map(Number);
    if (at.length !== 2 || !at.every(isFinite) || Math.abs(at[0]) > 90 || Math.abs(at[1]) > 180) {
      return;
    }
    var name = (params.get("label") || "").slice(0, 100) || at.join(", ");
    placeMarker(map, { kind: "place", kind_label: form.dataset.placeLabel, name: name,
                       lat: at[0], lon: at[1] }, form, false);
  }

  // --- the combobox ----------------------------------------------------------------------

  function setup(form) {
    var input = form.querySelector("input[name=q]");
    if (!input || !window.fetch) { return; }
    var listId = input.id + "-list";
    var list = element("ul", "place-search-list");
    list.id = listId;
    list.hidden = true;
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", form.dataset.suggestions);
    var live = element("p", "visually-hidden");
    // A polite live region, not a second role=status: the map's status line is the page's one.
    live.setAttribute("aria-live", "polite");
    live.setAttribute("aria-atomic", "true");
    live.className = "visually-hidden place-search-status";
    // The towns' credit, shown under the suggestions whenever a town is among them.
    var credit = element("p", "place-search-credit");
    var popup = element("div", "place-search-popup");
    popup.hidden = true;
    popup.appendChild(list);
    popup.appendChild(credit);
    form.appendChild(popup);
    form.appendChild(live);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listId);

    var results = [];
    var active = -1;
    var timer = null;
    var asked = 0;
    var lastQuery = null;

    function open() {
      if (!results.length) { return; }
      list.hidden = false;
      popup.hidden = false;
      credit.hidden = !credit.textContent;
      input.setAttribute("aria-expanded", "true");
    }

    function close() {
      list.hidden = true;
      popup.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      highlight(-1);
    }

    function highlight(index) {
      active = index;
      Array.prototype.forEach.call(list.children, function (li, i) {
        li.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      if (index >= 0 && list.children[index]) {
        input.setAttribute("aria-activedescendant", list.children[index].id);
        list.children[index].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function render(items, credits) {
      results = items;
      credit.textContent = (credits || []).join(" ");
      list.textContent = "";
      items.forEach(function (r, i) {
        var li = element("li");
        li.id = listId + "-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.appendChild(element("span", "place-search-name", r.name));
        li.appendChild(document.createTextNode(" "));
        li.appendChild(element("span", "place-search-kind", form.dataset.lang === "ja"
          ? "（" + r.kind_label + "）" : "(" + r.kind_label + ")"));
        li.dataset.index = String(i);
        list.appendChild(li);
      });
      active = -1;
      input.removeAttribute("aria-activedescendant");
      live.textContent = items.length ? fill(form.dataset.announce, { n: items.length })
                                      : form.dataset.none;
      if (items.length) { open(); } else { close(); }
    }

    function ask() {
      var q = input.value.trim();
      if (q === lastQuery) { open(); return; }
      lastQuery = q;
      if (!q || q.length > 100) { render([]); live.textContent = ""; return; }
      var mine = ++asked;
      fetch(withQuery(form.dataset.api, { q: q }), { headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.json();
        })
        .then(function (body) {
          if (mine === asked) { render(body.results || [], body.credits); }
        })
        .catch(function () {
          if (mine !== asked) { return; }
          lastQuery = null;
          render([]);
          live.textContent = form.dataset.failed;
        });
    }

    function choose(index) {
      var result = results[index];
      if (!result) { return; }
      input.value = result.name;
      lastQuery = result.name;
      close();
      var map = window.geoappMap;
      if (map && window.L) {
        showOnMap(map, result, form);
      } else {
        window.location.href = result.url;
      }
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(ask, DEBOUNCE_MS);
    });
    input.addEventListener("keydown", function (e) {
      var opened = !list.hidden;
      if (e.key === "ArrowDown" || e.key === "Down") {
        e.preventDefault();
        if (!opened) { open(); if (e.altKey) { return; } }
        if (results.length) { highlight(active < results.length - 1 ? active + 1 : 0); }
      } else if (e.key === "ArrowUp" || e.key === "Up") {
        e.preventDefault();
        if (!opened) { open(); }
        if (results.length) { highlight(active > 0 ? active - 1 : results.length - 1); }
      } else if (e.key === "Enter") {
        if (opened && active >= 0) {
          e.preventDefault();  // a suggestion chosen: no submit to the results page
          choose(active);
        }
      } else if (e.key === "Escape" || e.key === "Esc") {
        if (opened) {
          e.preventDefault();
          e.stopPropagation();
          close();
        } else if (input.value) {
          e.preventDefault();
          input.value = "";
          lastQuery = null;
          render([]);
          live.textContent = "";
        }
      }
    });
    // Pressed, not clicked: choosing must happen before the input's blur closes the list.
    list.addEventListener("mousedown", function (e) { e.preventDefault(); });
    list.addEventListener("click", function (e) {
      var li = e.target.closest ? e.target.closest("li[role=option]") : null;
      if (li) { choose(Number(li.dataset.index)); }
    });
    input.addEventListener("blur", function () { close(); });
    input.addEventListener("focus", function () { if (input.value.trim()) { ask(); } });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("form.place-search"), setup);
    var form = document.querySelector("form.place-search");
    if (form && window.geoappMap && window.L) { placeFromAddress(window.geoappMap, form); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
