"""Run the Atlassian simulator in the foreground until SIGINT or SIGTERM.

python manage.py atlassian_simulator --port 8765 --users 2000 --groups 40 --seed 1
"""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from governance.atlassian.groupids import ARI, FORMS
from governance.atlassian.simulator import Simulator, SimulatorConfig


def _rate(value: str) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(value)
    return rate


class Command(BaseCommand):
    help = "Serve a simulated Atlassian Cloud organization (Admin v1/v2, User management, Jira) on one base URL."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
        parser.add_argument("--users", type=int, default=2000, help="directory users (apps and customers come on top)")
        parser.add_argument("--groups", type=int, default=40)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--org-id", default="demo-org")
        parser.add_argument("--api-key", default="demo-key", help="Bearer key of the Admin APIs and Jira API token")
        parser.add_argument("--jira-email", default="admin@example.com", help="Basic-auth user of Jira")
        parser.add_argument(
            "--group-id-form",
            choices=FORMS,
            default=ARI,
            help="how the Admin API's group search, details and paths spell group ids (users' groups: always ARIs)",
        )
        parser.add_argument(
            "--sandbox-site", action="store_true", help="a second Jira site (same product key, another cloud id)"
        )
        parser.add_argument(
            "--expired-api-key", action="store_true", help="the org API key has expired: Admin requests answer 401"
        )
        parser.add_argument("--error-rate", type=_rate, default=0.0, help="share of requests failing with 5xx")
        parser.add_argument("--latency-ms", type=int, default=0, help="added latency per request")
        parser.add_argument("--rate-limit", type=int, default=0, help="requests per minute before 429 (0 = off)")
        parser.add_argument("--malformed-rate", type=_rate, default=0.0, help="share of 200s with truncated JSON")
        parser.add_argument("--drop-rate", type=_rate, default=0.0, help="share of connections closed unanswered")
        parser.add_argument(
            "--cursor-repeat-rate",
            type=_rate,
            default=0.0,
            help="share of Admin API pages whose links.next leads back to the same page",
        )
        parser.add_argument(
            "--cursor-skip-rate",
            type=_rate,
            default=0.0,
            help="share of Admin API pages whose links.next jumps over the following page",
        )

    def handle(self, *args, **options):
        try:
            config = SimulatorConfig(
                users=options["users"],
                groups=options["groups"],
                seed=options["seed"],
                org_id=options["org_id"],
                api_key=options["api_key"],
                jira_email=options["jira_email"],
                group_id_form=options["group_id_form"],
                sandbox_site=options["sandbox_site"],
                api_key_expired=options["expired_api_key"],
                host=options["host"],
                port=options["port"],
                error_rate=options["error_rate"],
                latency_ms=options["latency_ms"],
                rate_limit_per_minute=options["rate_limit"],
                malformed_rate=options["malformed_rate"],
                drop_rate=options["drop_rate"],
                cursor_repeat_rate=options["cursor_repeat_rate"],
                cursor_skip_rate=options["cursor_skip_rate"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        simulator = Simulator(config)
        try:
            base_url = simulator.start()
        except OSError as exc:
            raise CommandError(f"Cannot listen on {config.host}:{config.port}: {exc}") from exc
        state = simulator.state
        self.stdout.write(
            f"Atlassian simulator: {config.users} users, {config.groups} groups, seed {config.seed} "
            f"(generated in {state.generation_seconds:.2f}s)\n"
            f"  org id {state.org_id}, cloud id {state.cloud_id}, directories {', '.join(state.directory_ids)}\n"
            f"  group ids: {config.group_id_form} in the group search and paths, ARIs in users' groups\n"
            f"  Jira: Basic {config.jira_email} / <api key>; Admin: Bearer <api key>\n"
            f"{base_url}"
        )
        self.stdout.flush()
        stopping = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not stopping.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            simulator.stop()
            self.stdout.write(f"Simulator stopped after {simulator.requests_served} requests.")
