"""Folium elements geoapp adds: an accessible map, layers fetched by URL, Japanese controls."""

from __future__ import annotations

from typing import Any

import folium
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template


class CityMap(folium.Map):
    """folium.Map without the page-wide styles and the zoom-forbidding viewport of Folium's own.

    geoapp's base template owns the page (lang, title, a viewport that allows zoom), and
    its stylesheet sizes the map (``.folium-map`` fills its ``.map-wrap``). Nothing inline
    goes into the page's head: no <style> block (the Content-Security-Policy allows only
    stylesheet files) and no L_NO_TOUCH/L_DISABLE_3D script (Leaflet reads them as false
    when absent, which is what Folium set).
    """

    _template = Template(
        """
        {% macro html(this, kwargs) %}
            <div class="folium-map" id={{ this.get_name()|tojson }}></div>
        {% endmacro %}

        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.map(
                {{ this.get_name()|tojson }},
                {
                    center: {{ this.location|tojson }},
                    crs: L.CRS.{{ this.crs }},
                    ...{{this.options|tojavascript}}
                }
            );
        {% endmacro %}
        """
    )


class MapSetup(JSCSSMixin):
    """Names the map region, adds Japanese/English zoom buttons, and loads geoapp's map script.

    Add it first: it runs before the layers and controls are made.
    """

    _function = "setupMap"
    _template = Template(
        """
        {% macro script(this, kwargs) %}
            geoapp.{{ this._function }}({{ this._parent.get_name() }}, {{ this.config|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, config: dict[str, Any], js: list[tuple[str, str]],
                 css: list[tuple[str, str]]) -> None:
        super().__init__()
        self._name = "MapSetup"
        self.config = config
        self.default_js = js
        self.default_css = css


class MapFinish(MapSetup):
    """Names and labels the controls Leaflet and its plugins made (layer list, buttons).

    Add it last, after the LayerControl.
    """

    _function = "finishMap"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config, js=[], css=[])
        self._name = "MapFinish"


class FetchedLayer(JSCSSMixin, Layer):
    """A layer whose features the browser fetches from the feature API, page by page, or
    draws from the collection's vector tiles; either only once the layer is first shown.

    Nothing of the data is inlined into the page, so the page stays small however
    large the layer grows. Popups are built with textContent, never innerHTML.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = geoapp.featureLayer({{ this.config|tojson }});
            {%- if this.show %}
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
            {%- endif %}
        {% endmacro %}
        """
    )

    def __init__(self, name: str, config: dict[str, Any], *, show: bool,
                 js: list[tuple[str, str]], css: list[tuple[str, str]]) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "FetchedLayer"
        self.config = config
        self.default_js = js
        self.default_css = css
