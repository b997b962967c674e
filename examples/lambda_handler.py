"""Serverless Deployment: the seed's Lambda endpoint, verbatim but for the import.

On AWS Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set) ``restate.app`` returns a ``handler(event,
context)``; elsewhere it is the ASGI app (serve it with hypercorn to try it locally).
"""

import reference_sdk as restate
from examples.workflows.signup_workflow import signup_workflow

handler = restate.app(services=[signup_workflow])
