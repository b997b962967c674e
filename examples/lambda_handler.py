"""Serverless Deployment: the seed's Lambda endpoint (``handler(event, context)``)."""

import reference_sdk as restate
from examples.workflows.signup_workflow import signup_workflow

handler = restate.app(services=[signup_workflow]).lambda_handler
