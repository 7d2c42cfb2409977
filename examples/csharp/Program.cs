// A sluice producer in C#: System.IO.Pipes.NamedPipeClientStream and text
// lines, as any .NET program that logs to a pipe would do it.
//
// The same code reaches the collector on every platform, because
// NamedPipeClientStream(".", NAME) opens
//   Windows:        \\.\pipe\NAME
//   Linux, macOS:   the Unix domain socket Path.GetTempPath()/CoreFxPipe_NAME,
//                   i.e. $TMPDIR/CoreFxPipe_NAME (TMPDIR defaults to /tmp)
// and that is exactly where sluice-collector --pipe NAME listens.
//
// What it does (docs/protocol.md): connect, read the greeting up to its NUL
// byte ("SLUICE/1 max=... id=..."), write one line per event, close. If the
// collector goes away first, a write or the final flush throws IOException
// (EPIPE / ERROR_NO_DATA underneath): the program says so and exits 1.
//
// Usage: dotnet run -- NAME [COUNT] [inout|out]   (COUNT lines, default 1000)
//        mono SluiceProducer.exe NAME [COUNT] [inout|out]   (built with mcs)
// inout (the default) opens the pipe with PipeDirection.InOut and reads the
// greeting; out opens it with PipeDirection.Out, as a write-only logger
// would, and cannot read the greeting (the collector's text mode needs
// nothing from it). Prints "csharp: id=K lines=N" (out: "csharp: id=?
// lines=N") and exits 0 when every line was written.
using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Pipes;
using System.Text;

internal static class Program
{
    private static int Main(string[] args)
    {
        int count = 1000;
        if (args.Length < 1 || args.Length > 3
            || (args.Length >= 2 && (!int.TryParse(args[1], out count) || count < 0))
            || (args.Length == 3 && args[2] != "inout" && args[2] != "out"))
        {
            Console.Error.WriteLine("usage: SluiceProducer NAME [COUNT] [inout|out]");
            return 2;
        }
        string name = args[0];
        bool writeOnly = args.Length == 3 && args[2] == "out";
        PipeDirection direction = writeOnly ? PipeDirection.Out : PipeDirection.InOut;

        using (var pipe = new NamedPipeClientStream(".", name, direction))
        {
            try
            {
                pipe.Connect(5000); // retries until a collector listens, at most 5 s
            }
            catch (Exception e) when (e is TimeoutException || e is IOException)
            {
                Console.Error.WriteLine("csharp: cannot connect to pipe " + name + ": " + e.Message);
                return 1;
            }

            // A write-only pipe cannot read the greeting: then the id is
            // unknown and lines are kept within the default max-frame.
            Dictionary<string, string> greeting = writeOnly
                ? new Dictionary<string, string> { { "id", "?" }, { "max", "1048576" } }
                : ReadGreeting(pipe);
            if (greeting == null)
                return 1;
            int maxLine = int.Parse(greeting["max"]); // '\n' included

            // One StreamWriter over the pipe: lines are batched in its buffer
            // and written in large writes. UTF-8 without a byte order mark,
            // '\n' line ends on every platform.
            int written = 0;
            try
            {
                var writer = new StreamWriter(pipe, new UTF8Encoding(false), 65536);
                writer.NewLine = "\n";
                for (int i = 0; i < count; i++)
                {
                    string line = "csharp event " + i;
                    if (Encoding.UTF8.GetByteCount(line) + 1 > maxLine)
                    {
                        Console.Error.WriteLine("csharp: line longer than max=" + maxLine);
                        return 1;
                    }
                    writer.WriteLine(line);
                    written++;
                }
                writer.Flush();
            }
            catch (IOException e)
            {
                Console.Error.WriteLine("csharp: the collector closed the connection (" + e.Message
                    + "); " + written + " lines written");
                return 1;
            }
            Console.WriteLine("csharp: id=" + greeting["id"] + " lines=" + written);
        }
        return 0;
    }

    // Reads the NUL-terminated greeting; null (after saying why) when the
    // peer is not a sluice collector or refuses the connection.
    private static Dictionary<string, string> ReadGreeting(Stream pipe)
    {
        var bytes = new List<byte>();
        for (;;)
        {
            int b = pipe.ReadByte();
            if (b < 0)
            {
                Console.Error.WriteLine("csharp: connection closed before the greeting");
                return null;
            }
            if (b == 0)
                break;
            bytes.Add((byte)b);
            if (bytes.Count >= 64)
            {
                Console.Error.WriteLine("csharp: not a sluice collector (no greeting)");
                return null;
            }
        }
        string text = Encoding.ASCII.GetString(bytes.ToArray());
        string[] words = text.Split(' ');
        var fields = new Dictionary<string, string>();
        for (int i = 1; i < words.Length; i++)
        {
            int eq = words[i].IndexOf('=');
            if (eq > 0)
                fields[words[i].Substring(0, eq)] = words[i].Substring(eq + 1);
        }
        if (words[0] != "SLUICE/1" || fields.ContainsKey("error")
            || !fields.ContainsKey("max") || !fields.ContainsKey("id"))
        {
            Console.Error.WriteLine("csharp: refused or not a sluice collector: \"" + text + "\"");
            return null;
        }
        return fields;
    }
}
