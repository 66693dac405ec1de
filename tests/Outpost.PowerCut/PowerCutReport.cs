using System.Globalization;
using System.Text;

namespace Outpost.PowerCut;

/// <summary>Counts of one harness run, in total and per phase, and the first failures in full.</summary>
public sealed class PowerCutReport(string mode)
{
    private const int KeptFailures = 20;

    private readonly object _gate = new();
    private readonly Dictionary<string, PhaseCounts> _phases = Phases.All.ToDictionary(p => p, _ => new PhaseCounts());
    private readonly List<CutResult> _failures = [];

    public string Mode => mode;
    public int Cuts { get; private set; }
    public int Unbootable { get; private set; }
    public int WrongCommits { get; private set; }
    public int NotConverged { get; private set; }
    public int Errors { get; private set; }
    public TimeSpan Elapsed { get; set; }

    /// <summary>Free-form notes (calibration, write counts) printed with the counts.</summary>
    public List<string> Notes { get; } = [];

    public IReadOnlyList<CutResult> Failures => _failures;

    public bool Clean => Unbootable == 0 && WrongCommits == 0 && NotConverged == 0 && Errors == 0;

    public int CutsIn(string phase) => _phases.TryGetValue(phase, out var c) ? c.Cuts : 0;

    public void Add(CutResult result)
    {
        lock (_gate)
        {
            Cuts++;
            if (!_phases.TryGetValue(result.Phase, out var counts)) _phases[result.Phase] = counts = new PhaseCounts();
            counts.Cuts++;
            if (result.Unbootable) { Unbootable++; counts.Unbootable++; }
            if (result.WrongCommit) { WrongCommits++; counts.WrongCommits++; }
            if (result.NotConverged) { NotConverged++; counts.NotConverged++; }
            if (result.Error) { Errors++; counts.Errors++; }
            if (!result.Ok && _failures.Count < KeptFailures) _failures.Add(result);
        }
    }

    public string Summary => string.Create(CultureInfo.InvariantCulture,
        $"{mode}: cuts={Cuts} unbootable={Unbootable} wrong-commits={WrongCommits} not-converged={NotConverged} errors={Errors}");

    public override string ToString()
    {
        var text = new StringBuilder();
        text.AppendLine(Summary);
        foreach (var note in Notes) text.AppendLine(CultureInfo.InvariantCulture, $"  {note}");
        foreach (var (phase, c) in _phases.Where(p => p.Value.Cuts > 0).OrderBy(p => Phases.Order(p.Key) is var o && o < 0 ? int.MaxValue : o))
            text.AppendLine(CultureInfo.InvariantCulture, $"  phase {phase,-14} cuts={c.Cuts,-6} unbootable={c.Unbootable} wrong-commits={c.WrongCommits} not-converged={c.NotConverged} errors={c.Errors}");
        text.AppendLine(CultureInfo.InvariantCulture, $"  elapsed {Elapsed.TotalSeconds:0.0} s");
        foreach (var failure in _failures)
            text.AppendLine(CultureInfo.InvariantCulture, $"  FAIL [{failure.Phase}] {failure.Origin}: {failure.Detail}");
        return text.ToString();
    }

    private sealed class PhaseCounts
    {
        public int Cuts;
        public int Unbootable;
        public int WrongCommits;
        public int NotConverged;
        public int Errors;
    }
}
