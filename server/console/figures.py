from sanic import Blueprint

bp = Blueprint("console_figures", url_prefix="/console")
