"""The staff console: a second Flet app beside the client app (issue 10).

``api`` talks to ``/staff/*``; ``state`` holds one staff session (who is
signed in, which business unit, what the role allows); one view-model module
per screen (``portal_settings``, ``clients``, ``activity_types``,
``form_builder``, ``outbox``, ``admin``) holds the screen's data and actions
without any widget; ``views/`` draws them; ``main`` wires a Flet session.
"""
