"""``make local``: API Gateway for template.yaml on 127.0.0.1, with a dev issuer, no AWS or Docker.

- ``gateway``: routes, the built-in JWT authorizer's emulation, Lambda authorizers, payload 2.0;
- ``functions``: each function in worker processes of its own, as Lambda runs it;
- ``server``: the one HTTP/1.1 server (waitress) under the gateway and the dev issuer;
- ``issuer``: the dev issuer (discovery, keys, token endpoint);
- ``serve``: both started together; ``__main__``: the command line the make targets call.
"""
