"""The HTTP edge: an aiohttp application built by :func:`dutywatch.web.app.create_app`."""
