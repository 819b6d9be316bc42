"""The public map, built with Folium; its layers load in the browser from the feature API."""
