"""The dashboard: messages per hour and per day by type, outcomes, latency, the last errors."""

from handlers.console import charts
from handlers.console.page import Page, render
from handlers.console.stats import OUTCOMES, dashboard_summary


class Dashboard(Page):
    def show(self, console):
        summary = dashboard_summary(console.store)
        return render.dashboard(summary, charts.hourly_chart(summary), charts.daily_chart(summary),
                                charts.share_bar(summary.outcomes_48h, OUTCOMES),
                                charts.share_bar(summary.outcomes_30d, OUTCOMES))
