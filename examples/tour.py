"""Every workflow of the seed tour on the reference SDK (the seed's ``__main__.py``).

Serve it with ``hypercorn examples.tour:app --bind 127.0.0.1:9080`` and register it with
``curl localhost:9070/deployments --json '{"uri": "http://127.0.0.1:9080"}'``. ``handler`` is
the same services as a Lambda-style ``handler(event, context)`` (the seed's serverless section).
"""

import sys

import reference_sdk as restate
from examples.utils import user_service
from examples.workflows.signup_with_activities import signup_with_activities
from examples.workflows.signup_with_events import signup_with_events
from examples.workflows.signup_with_queries import signup_with_queries
from examples.workflows.signup_with_retries import signup_with_retries
from examples.workflows.signup_with_sagas import signup_with_sagas
from examples.workflows.signup_with_signals import signup_with_signals
from examples.workflows.signup_with_timers import signup_with_timers
from examples.workflows.signup_workflow import signup_workflow

if hasattr(sys.stdout, "reconfigure"):
    sys.stdout.reconfigure(line_buffering=True)  # the verification emails are read from the log

services = [
    # Workflows
    signup_workflow,
    signup_with_activities,
    signup_with_events,
    signup_with_queries,
    signup_with_retries,
    signup_with_sagas,
    signup_with_signals,
    signup_with_timers,
    # Utility services
    user_service,
]

app = restate.app(services=services)

handler = app.lambda_handler
