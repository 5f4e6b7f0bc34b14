"""``make deploy``/``delete``/``smoke``/``build``/``invoke-*`` and the issuer preflight.

Nothing here imports the local loop (``devkit.local``): a deploy job installs what these need.
"""
