from sanic import Blueprint

bp = Blueprint("console_admin", url_prefix="/console")
