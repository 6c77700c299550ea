"""The aiogram 3 adapter: routers per user flow, keyboards, callbacks, middlewares, rendering."""
