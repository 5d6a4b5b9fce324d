from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from governance.health import health_report


@never_cache
@require_safe
def healthz(request):
    """Liveness and readiness for load balancers and monitors: 200 when healthy, 503 otherwise."""
    healthy, body = health_report()
    return JsonResponse(body, status=200 if healthy else 503)
