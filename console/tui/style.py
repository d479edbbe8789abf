"""The console's Textual stylesheet: bar, banner, notice, panes and dialogs."""

CSS = """
Screen { layout: vertical; }
#top { height: 1; background: $panel; }
#bar { height: auto; padding: 0 1; }
#bar.alarm { background: #b00000; color: #ffffff; text-style: bold; }
#bar.ok { color: #7fd17f; background: #0a2a0a; }
#banner { display: none; height: auto; padding: 0 1; background: #c00000; color: #ffffff;
          border: heavy #ffff00; text-style: bold; }
#banner.on { display: block; }
#banner.level3 { background: #8b0000; border: double #ffffff; }
#notice { height: auto; max-height: 2; padding: 0 1; }
#notice.warn { background: #ffd000; color: #000000; text-style: bold; }
#notice.error { background: #ff8c00; color: #000000; text-style: bold; }
#notice.info { color: $text-muted; }
ContentSwitcher { height: 1fr; }
#alarm-table { height: 1fr; }
#alarm-table > .datatable--cursor { background: #1f4f9f; color: #ffffff; text-style: bold; }
#alarm-empty { padding: 1 2; color: $text-muted; }
#resolve { padding: 0 1; }
#resolve-title { text-style: bold; }
#resolve-hint { color: $text-muted; }
#resolve-error { display: none; background: #ffd000; color: #000000; padding: 0 1; }
#resolve .field { margin-top: 1; text-style: bold; }
#resolve .row { height: auto; }
#resolve .row Checkbox { margin-right: 2; }
#resolve RadioSet { layout: horizontal; width: auto; }
#resolve RadioButton { margin-right: 2; }
#resolve .ticks { grid-size: 3; grid-rows: 1; height: auto; grid-gutter: 0 2; }
#resolve Input { margin-top: 1; }
#resolve .buttons { margin-top: 1; }
#resolve Button { margin-right: 2; }
#resolve #r-pv { width: 1fr; margin-top: 0; margin-left: 2; }
#reg-summary { padding: 0 1; }
#reg-table { height: 1fr; }
#reg-more { padding: 0 1; }
#complete { padding: 0 1; }
#c-victim { margin-bottom: 1; }
#c-hint { color: $text-muted; }
#c-error { display: none; background: #ffd000; color: #000000; padding: 0 1; }
#complete .field { margin-top: 1; text-style: bold; }
#complete .row { height: auto; }
#complete .row Checkbox { margin-right: 2; }
#complete RadioSet { layout: horizontal; width: auto; }
#complete RadioButton { margin-right: 2; }
#complete .ticks { grid-size: 3; grid-rows: 1; height: auto; grid-gutter: 0 2; }
#complete Input { margin-top: 1; }
#complete .buttons { margin-top: 1; }
#complete Button { margin-right: 2; }
#complete #c-pv { width: 1fr; margin-top: 0; margin-left: 2; }
#units-summary { padding: 0 1; }
#unit-table { height: 1fr; }
#history-table { height: 1fr; }
#timeline-box { height: 2fr; border-top: solid $panel; }
#presence { padding: 0 1; }
#presence-me { margin: 1 0; padding: 0 1; }
.dialog { width: 64; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
.dialog-title { text-style: bold; margin-bottom: 1; }
TestDialog, DemoDialog { align: center middle; }
"""
